//! PartiQL statements and attribute values from clients never panic the parser.

use proptest::prelude::*;
use stratus_dynamodb_expr::partiql;
use stratus_dynamodb_expr::value::WireValue;
use stratus_dynamodb_expr::{AttributeValue, Number};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn partiql_never_panics(src in "(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|SET|REMOVE|VALUE|INTO|AND|OR|NOT|IN|BETWEEN|RETURNING|ALL|NEW|\\*|,|\\.|\\?|=|<>|<|>=|\\(|\\)|\\[|\\]|\\{|\\}|<<|>>|:|'[a-z]{0,3}'|\"[a-z]{0,3}\"|-?[0-9]{1,3}|[a-z]{1,4}| ){0,25}") {
        let _ = partiql::parse(&src, &[AttributeValue::S("p".into())]);
    }

    #[test]
    fn numbers_never_panic(s in "[-+0-9.eE]{0,50}") {
        if let Ok(n) = Number::parse(&s) {
            let _ = n.add(&n);
            let _ = n.key_bytes();
            prop_assert_eq!(Number::parse(&n.to_string()).unwrap(), n);
        }
    }

    #[test]
    fn wire_values_never_panic(json in "\\{(\"(S|N|B|BOOL|NULL|SS|NS|BS|L|M)\":(\"[a-zA-Z0-9=+/.-]{0,8}\"|true|false|\\[\\]|\\[\"[0-9a-z.]{0,4}\"(,\"[0-9a-z.]{0,4}\"){0,3}\\]|\\{\\}),?){0,3}\\}") {
        if let Ok(w) = serde_json::from_str::<WireValue>(&json) {
            let _ = AttributeValue::try_from(&w);
        }
    }
}
