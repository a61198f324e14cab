//! The expression languages end to end: parse with placeholders, evaluate against items,
//! apply updates — and the messages DynamoDB gives for what it rejects.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use stratus_dynamodb_expr::eval::{self, UpdateError};
use stratus_dynamodb_expr::expr::{self, Kind, Placeholders};
use stratus_dynamodb_expr::{AttributeValue as V, Item, Number};

fn n(s: &str) -> V {
    V::N(Number::parse(s).unwrap())
}
fn s(x: &str) -> V {
    V::S(x.into())
}

fn item() -> Item {
    let mut m = BTreeMap::new();
    m.insert("city".to_string(), s("Paris"));
    m.insert("zip".to_string(), n("75001"));
    let mut i = Item::new();
    i.insert("pk".into(), s("user#1"));
    i.insert("age".into(), n("42"));
    i.insert("name".into(), s("Ada Lovelace"));
    i.insert("tags".into(), V::Ss(vec!["a".into(), "b".into()]));
    i.insert("scores".into(), V::L(vec![n("1"), n("2"), n("3")]));
    i.insert("address".into(), V::M(m));
    i.insert("nothing".into(), V::Null);
    i
}

fn values(pairs: &[(&str, V)]) -> HashMap<String, V> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}
fn names(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn holds(src: &str, names_: &[(&str, &str)], values_: &[(&str, V)]) -> bool {
    let (nm, vl) = (names(names_), values(values_));
    let mut ph = Placeholders::new(&nm, &vl);
    let c = expr::parse_condition(src, Kind::Condition, &mut ph).unwrap_or_else(|e| panic!("{src}: {e}"));
    ph.check_all_used().unwrap();
    eval::eval(&c, &item())
}

fn parse_error(src: &str, names_: &[(&str, &str)], values_: &[(&str, V)]) -> String {
    let (nm, vl) = (names(names_), values(values_));
    let mut ph = Placeholders::new(&nm, &vl);
    expr::parse_condition(src, Kind::Condition, &mut ph)
        .unwrap_err()
        .to_string()
}

#[test]
fn comparisons_and_functions() {
    assert!(holds("age = :v", &[], &[(":v", n("42"))]));
    assert!(holds(
        "age > :v AND age <= :w",
        &[],
        &[(":v", n("41.5")), (":w", n("42"))]
    ));
    assert!(
        !holds("age < :v", &[], &[(":v", s("42"))]),
        "different types never order"
    );
    assert!(holds("age <> :v", &[], &[(":v", s("42"))]));
    assert!(
        holds("absent <> :v", &[], &[(":v", n("1"))]),
        "missing is unequal to anything"
    );
    assert!(!holds("absent = :v", &[], &[(":v", n("1"))]));
    assert!(!holds("absent < :v", &[], &[(":v", n("1"))]));
    assert!(holds(
        "#n BETWEEN :a AND :b",
        &[("#n", "name")],
        &[(":a", s("A")), (":b", s("B"))]
    ));
    assert!(holds("age IN (:a, :b)", &[], &[(":a", n("1")), (":b", n("42"))]));
    assert!(holds(
        "attribute_exists(address.city) AND attribute_not_exists(address.street)",
        &[],
        &[]
    ));
    assert!(
        holds("attribute_exists(#n)", &[("#n", "nothing")], &[]),
        "NULL values exist"
    );
    assert!(holds("attribute_type(tags, :t)", &[], &[(":t", s("SS"))]));
    assert!(holds("begins_with(pk, :p)", &[], &[(":p", s("user#"))]));
    assert!(holds(
        "contains(#n, :x) AND contains(tags, :t) AND contains(scores, :three)",
        &[("#n", "name")],
        &[(":x", s("Love")), (":t", s("b")), (":three", n("3"))]
    ));
    assert!(holds(
        "size(scores) = :three AND size(address) < :three",
        &[],
        &[(":three", n("3"))]
    ));
    assert!(holds(
        "scores[1] = :two AND address.zip = :zip",
        &[],
        &[(":two", n("2")), (":zip", n("75001"))]
    ));
    assert!(!holds("scores[9] = :two", &[], &[(":two", n("2"))]));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let t = (":t", n("42"));
    let f = (":f", n("0"));
    // OR binds loosest: true OR (false AND false)
    assert!(holds(
        "age = :t OR age = :f AND age = :f",
        &[],
        &[t.clone(), f.clone()]
    ));
    // NOT binds tighter than AND: (NOT false) AND true
    assert!(holds("NOT age = :f AND age = :t", &[], &[t.clone(), f.clone()]));
    assert!(!holds("NOT (age = :f OR age = :t)", &[], &[t.clone(), f.clone()]));
    assert!(holds("(age = :f OR age = :t) and not age = :f", &[], &[t, f]));
}

#[test]
fn validation_messages() {
    assert_eq!(
        parse_error("age = :missing", &[], &[]),
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :missing"
    );
    assert_eq!(
        parse_error("#x = :v", &[], &[(":v", n("1"))]),
        "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"
    );
    assert_eq!(
        parse_error("name = :v", &[], &[(":v", n("1"))]),
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"
    );
    assert!(
        parse_error("age = ", &[], &[])
            .starts_with("Invalid ConditionExpression: Syntax error; token: \"<EOF>\"")
    );
    assert_eq!(
        parse_error("foo(age)", &[], &[]),
        "Invalid ConditionExpression: Invalid function name; function: foo"
    );
    assert!(parse_error("begins_with(pk)", &[], &[]).contains("Incorrect number of operands"));
    assert!(
        parse_error("age BETWEEN :b AND :a", &[], &[(":a", n("1")), (":b", n("5"))])
            .contains("The BETWEEN operator requires upper bound to be greater than or equal to lower bound")
    );
    assert!(
        parse_error("attribute_type(age, :t)", &[], &[(":t", s("X"))])
            .contains("Invalid attribute type name found; type: X")
    );
    assert!(parse_error("age = :v $", &[], &[(":v", n("1"))]).contains("Syntax error; token: \"$\""));
    assert_eq!(
        parse_error("", &[], &[]),
        "Invalid ConditionExpression: The expression can not be empty;"
    );
    let many: Vec<String> = (0..101).map(|i| format!(":v{i}")).collect();
    let vals: Vec<(&str, V)> = many.iter().map(|k| (k.as_str(), n("1"))).collect();
    assert!(parse_error(&format!("age IN ({})", many.join(",")), &[], &vals).contains("too many operands"));
    // Unused placeholders.
    let (nm, vl) = (
        names(&[("#unused", "x")]),
        values(&[(":v", n("1")), (":extra", n("2"))]),
    );
    let mut ph = Placeholders::new(&nm, &vl);
    expr::parse_condition("age = :v", Kind::Condition, &mut ph).unwrap();
    assert_eq!(
        ph.check_all_used().unwrap_err(),
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}"
    );
}

fn update(src: &str, values_: &[(&str, V)]) -> Result<Item, UpdateError> {
    let (nm, vl) = (names(&[("#n", "name")]), values(values_));
    let mut ph = Placeholders::new(&nm, &vl);
    let u = expr::parse_update(src, &mut ph).unwrap_or_else(|e| panic!("{src}: {e}"));
    let mut i = item();
    eval::apply(&mut i, &u)?;
    Ok(i)
}

#[test]
fn updates() {
    let i = update(
        "SET age = age + :one, #n = :n, address.street = :st, scores[1] = :z REMOVE nothing, scores[0]",
        &[
            (":one", n("1")),
            (":n", s("Grace")),
            (":st", s("Rue")),
            (":z", n("0")),
        ],
    )
    .unwrap();
    assert_eq!(i["age"], n("43"));
    assert_eq!(i["name"], s("Grace"));
    assert!(!i.contains_key("nothing"));
    assert_eq!(
        i["scores"],
        V::L(vec![n("0"), n("3")]),
        "SET reads the old item, REMOVE then drops index 0"
    );
    let V::M(addr) = &i["address"] else { panic!() };
    assert_eq!(addr["street"], s("Rue"));
    let i = update(
        "SET scores = list_append(scores, :more), hits = if_not_exists(hits, :zero) - :one",
        &[(":more", V::L(vec![n("4")])), (":zero", n("0")), (":one", n("1"))],
    )
    .unwrap();
    assert_eq!(i["scores"], V::L(vec![n("1"), n("2"), n("3"), n("4")]));
    assert_eq!(i["hits"], n("-1"));
    let i = update(
        "ADD tags :t, visits :one",
        &[(":t", V::Ss(vec!["c".into()])), (":one", n("1"))],
    )
    .unwrap();
    assert_eq!(i["tags"], V::Ss(vec!["a".into(), "b".into(), "c".into()]));
    assert_eq!(i["visits"], n("1"));
    let i = update(
        "DELETE tags :gone",
        &[(":gone", V::Ss(vec!["a".into(), "zz".into()]))],
    )
    .unwrap();
    assert_eq!(i["tags"], V::Ss(vec!["b".into()]));
    let i = update(
        "DELETE tags :all",
        &[(":all", V::Ss(vec!["a".into(), "b".into()]))],
    )
    .unwrap();
    assert!(!i.contains_key("tags"), "an emptied set disappears");
    assert_eq!(
        update("SET age = absent + :one", &[(":one", n("1"))]).unwrap_err(),
        UpdateError::MissingAttribute
    );
    assert_eq!(
        update("SET age = #n + :one", &[(":one", n("1"))]).unwrap_err(),
        UpdateError::WrongType
    );
    assert_eq!(
        update("SET nope.deeper = :one", &[(":one", n("1"))]).unwrap_err(),
        UpdateError::InvalidPath
    );
    assert_eq!(
        update("ADD #n :one", &[(":one", n("1"))]).unwrap_err(),
        UpdateError::WrongType
    );
}

#[test]
fn update_validation() {
    let (nm, vl) = (names(&[]), values(&[(":v", n("1"))]));
    let err = |src: &str| {
        let mut ph = Placeholders::new(&nm, &vl);
        expr::parse_update(src, &mut ph).unwrap_err().to_string()
    };
    assert_eq!(
        err("SET a = :v, a.b = :v"),
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
    );
    assert!(err("SET a = :v SET b = :v").contains("The \"SET\" section can only be used once"));
    assert!(err("SET a[0] = :v, a.b = :v").contains("conflict"));
    assert!(err("PUT a = :v").starts_with("Invalid UpdateExpression: Syntax error"));
}

#[test]
fn projections() {
    let (nm, vl) = (names(&[("#n", "name")]), values(&[]));
    let mut ph = Placeholders::new(&nm, &vl);
    let paths = expr::parse_projection("#n, address.city, scores[2], absent", &mut ph).unwrap();
    let p = eval::project(&item(), &paths);
    assert_eq!(p.len(), 3);
    assert_eq!(p["scores"], V::L(vec![n("3")]));
    let V::M(addr) = &p["address"] else { panic!() };
    assert_eq!(addr.len(), 1);
    let mut ph = Placeholders::new(&nm, &vl);
    assert!(
        expr::parse_projection("a, a.b", &mut ph)
            .unwrap_err()
            .to_string()
            .contains("overlap")
    );
}

proptest! {
    #[test]
    fn the_parser_never_panics(src in "[ -~]{0,40}") {
        let (nm, vl) = (names(&[("#a", "a")]), values(&[(":v", n("1"))]));
        let mut ph = Placeholders::new(&nm, &vl);
        let _ = expr::parse_condition(&src, Kind::Filter, &mut ph);
        let mut ph = Placeholders::new(&nm, &vl);
        let _ = expr::parse_update(&src, &mut ph);
        let mut ph = Placeholders::new(&nm, &vl);
        let _ = expr::parse_projection(&src, &mut ph);
    }

    #[test]
    fn double_negation_and_de_morgan(a in 0i64..100, b in 0i64..100, x in 0i64..100) {
        let vals = [(":a", n(&a.to_string())), (":b", n(&b.to_string())), (":x", n(&x.to_string()))];
        let mut it = Item::new();
        it.insert("v".into(), n(&x.to_string()));
        let check = |src: &str| {
            let (nm, vl) = (names(&[]), values(&vals));
            let mut ph = Placeholders::new(&nm, &vl);
            eval::eval(&expr::parse_condition(src, Kind::Filter, &mut ph).unwrap(), &it)
        };
        prop_assert_eq!(check("v < :a"), a > x);
        prop_assert_eq!(check("NOT NOT v < :a"), check("v < :a"));
        prop_assert_eq!(check("NOT (v < :a OR v > :b)"), check("NOT v < :a AND NOT v > :b"));
        prop_assert_eq!(check("v BETWEEN :x AND :x"), true);
    }
}

#[test]
fn size_operator_and_nesting_limits() {
    // Nesting as deep as the limits allow recurses deeper than a debug build's default 2 MiB
    // test thread allows; the server's threads have 8 MiB.
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(limits)
        .unwrap()
        .join()
        .unwrap();
}

fn limits() {
    let v = [(":v", n("42"))];
    // 4 KB of expression at most.
    let long = format!("attribute_exists(a){}", " ".repeat(4_100));
    assert_eq!(
        parse_error(&long, &[], &v[..0]),
        format!(
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: {}",
            long.len()
        )
    );
    // 300 operators and functions at most: 300 pass, the 301st is refused.
    let ok = format!("NOT {}", vec!["age = :v"; 150].join(" OR "));
    let (nm, vl) = (names(&[]), values(&v));
    assert!(expr::parse_condition(&ok, Kind::Condition, &mut Placeholders::new(&nm, &vl)).is_ok());
    let over = vec!["age = :v"; 151].join(" OR ");
    assert_eq!(
        parse_error(&over, &[], &v),
        "Invalid ConditionExpression: The expression contains too many operators; operator count: 301"
    );
    let nots = format!("{}attribute_exists(age)", "NOT ".repeat(1_000));
    assert!(parse_error(&nots, &[], &[]).contains("too many operators; operator count: 301"));
    // Parentheses around parentheses are refused; nesting deep enough to exhaust the stack is
    // refused before it does.
    assert_eq!(
        parse_error("((attribute_exists(age)))", &[], &[]),
        "Invalid ConditionExpression: The expression has redundant parentheses;"
    );
    assert!(holds("(attribute_exists(age))", &[], &[]));
    assert!(holds("(attribute_exists(age)) AND (age = :v)", &[], &v));
    let deep = format!("{}attribute_exists(age){}", "(".repeat(2_000), ")".repeat(2_000));
    assert!(parse_error(&deep, &[], &[]).starts_with("Invalid ConditionExpression: "));
    let nested = format!(
        "{}attribute_exists(age){}",
        "(age = :v AND ".repeat(200),
        ")".repeat(200)
    );
    assert!(parse_error(&nested, &[], &v).contains("too many operators"));
}

#[test]
fn partiql_nesting_is_bounded() {
    use stratus_dynamodb_expr::partiql;
    let ok = format!("SELECT * FROM t WHERE {}a = 1{}", "(".repeat(50), ")".repeat(50));
    assert!(partiql::parse(&ok, &[]).is_ok());
    for deep in [
        format!(
            "SELECT * FROM t WHERE {}a = 1{}",
            "(".repeat(5_000),
            ")".repeat(5_000)
        ),
        format!("SELECT * FROM t WHERE {}a = 1", "NOT ".repeat(5_000)),
        format!("INSERT INTO t VALUE {}", "[".repeat(5_000)),
        format!("INSERT INTO t VALUE {}", "<<".repeat(5_000)),
    ] {
        let e = partiql::parse(&deep, &[]).unwrap_err();
        assert!(e.to_string().contains("Nesting is too deep"), "{e}");
    }
}

#[test]
fn operands_are_checked_as_aws_checks_them() {
    let v = [(":n", n("1")), (":s", s("a"))];
    let cases = [
        (
            "contains(tags, tags)",
            "The first operand must be distinct from the remaining operands for this operator or function; operator: contains, first operand: [tags]",
        ),
        (
            "age = age",
            "The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [age]",
        ),
        (
            "begins_with(pk, :n)",
            "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
        ),
        (
            "attribute_type(pk, :n)",
            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N",
        ),
        (
            "age BETWEEN :n AND :s",
            "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}",
        ),
    ];
    for (src, message) in cases {
        let used: Vec<(&str, V)> = v.iter().filter(|(k, _)| src.contains(k)).cloned().collect();
        assert_eq!(
            parse_error(src, &[], &used),
            format!("Invalid ConditionExpression: {message}")
        );
    }
    assert!(holds("begins_with(pk, :s) OR contains(tags, :s)", &[], &v[1..]));
}
