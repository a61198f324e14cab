//! Evaluating parsed expressions against items: conditions and filters, projections, and
//! updates (with DynamoDB's runtime errors).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::expr::{CmpOp, Cond, Operand, Path, SetOperand, SetValue, Step, Update};
use crate::number::Number;
use crate::value::{AttributeValue, Item};

/// The value at `path`, if the item has one.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a AttributeValue> {
    let mut steps = path.0.iter();
    let mut cur = match steps.next()? {
        Step::Attr(a) => item.get(a)?,
        Step::Index(_) => return None,
    };
    for s in steps {
        cur = match (s, cur) {
            (Step::Attr(a), AttributeValue::M(m)) => m.get(a)?,
            (Step::Index(i), AttributeValue::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Order of two scalars of the same type (S and B bytewise, N numerically); `None` otherwise.
pub fn compare(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AttributeValue::N(x), AttributeValue::N(y)) => Some(x.cmp(y)),
        (AttributeValue::B(x), AttributeValue::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// How a scalar appears in DynamoDB's messages.
pub fn scalar_text(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn size_of(v: &AttributeValue) -> Option<usize> {
    Some(match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Ss(s) => s.len(),
        AttributeValue::Ns(n) => n.len(),
        AttributeValue::Bs(b) => b.len(),
        AttributeValue::L(l) => l.len(),
        AttributeValue::M(m) => m.len(),
        _ => return None,
    })
}

fn operand<'a>(item: &'a Item, op: &'a Operand) -> Option<Cow<'a, AttributeValue>> {
    match op {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => {
            let n = size_of(resolve(item, p)?)?;
            Some(Cow::Owned(AttributeValue::N(Number::parse(&n.to_string()).ok()?)))
        }
    }
}

/// Whether `cond` holds for `item` (a missing item is an empty one).
pub fn eval(cond: &Cond, item: &Item) -> bool {
    match cond {
        Cond::Cmp(a, op, b) => {
            let (a, b) = (operand(item, a), operand(item, b));
            match (a, b) {
                (Some(a), Some(b)) => match op {
                    CmpOp::Eq => a == b,
                    CmpOp::Ne => a != b,
                    _ => match compare(&a, &b) {
                        None => false,
                        Some(o) => match op {
                            CmpOp::Lt => o == Ordering::Less,
                            CmpOp::Le => o != Ordering::Greater,
                            CmpOp::Gt => o == Ordering::Greater,
                            _ => o != Ordering::Less,
                        },
                    },
                },
                // Something missing is unequal to anything, and nothing else.
                _ => *op == CmpOp::Ne,
            }
        }
        Cond::Between(v, lo, hi) => match (operand(item, v), operand(item, lo), operand(item, hi)) {
            (Some(v), Some(lo), Some(hi)) => {
                compare(&lo, &v).is_some_and(|o| o != Ordering::Greater)
                    && compare(&v, &hi).is_some_and(|o| o != Ordering::Greater)
            }
            _ => false,
        },
        Cond::In(v, list) => match operand(item, v) {
            Some(v) => list.iter().any(|o| operand(item, o).is_some_and(|x| x == v)),
            None => false,
        },
        Cond::Exists(p) => resolve(item, p).is_some(),
        Cond::NotExists(p) => resolve(item, p).is_none(),
        Cond::Type(p, t) => match (resolve(item, p), operand(item, t)) {
            (Some(v), Some(t)) => matches!(&*t, AttributeValue::S(t) if t == v.type_name()),
            _ => false,
        },
        Cond::BeginsWith(a, b) => match (operand(item, a).as_deref(), operand(item, b).as_deref()) {
            (Some(AttributeValue::S(x)), Some(AttributeValue::S(y))) => x.starts_with(y.as_str()),
            (Some(AttributeValue::B(x)), Some(AttributeValue::B(y))) => x.starts_with(y),
            _ => false,
        },
        Cond::Contains(a, b) => match (operand(item, a).as_deref(), operand(item, b).as_deref()) {
            (Some(AttributeValue::S(x)), Some(AttributeValue::S(y))) => x.contains(y.as_str()),
            (Some(AttributeValue::B(x)), Some(AttributeValue::B(y))) => {
                y.is_empty() || x.windows(y.len()).any(|w| w == y.as_slice())
            }
            (Some(AttributeValue::Ss(s)), Some(AttributeValue::S(y))) => s.contains(y),
            (Some(AttributeValue::Ns(s)), Some(AttributeValue::N(y))) => s.contains(y),
            (Some(AttributeValue::Bs(s)), Some(AttributeValue::B(y))) => s.contains(y),
            (Some(AttributeValue::L(l)), Some(y)) => l.contains(y),
            _ => false,
        },
        Cond::And(a, b) => eval(a, item) && eval(b, item),
        Cond::Or(a, b) => eval(a, item) || eval(b, item),
        Cond::Not(a) => !eval(a, item),
    }
}

/// The item reduced to the projected paths (nested maps and lists keep only what was named).
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut wanted = Wanted::default();
    for p in paths {
        wanted.add(&p.0);
    }
    item.iter()
        .filter_map(|(name, v)| {
            let node = wanted.0.get(&Step::Attr(name.clone()))?;
            Some((name.clone(), node.apply(v)?))
        })
        .collect()
}

/// The paths a projection names, as a tree: the children of each map and list it reaches
/// into, ordered by name and by index (a list's projected elements come out compacted, in
/// index order, whatever order they were named in).
#[derive(Default)]
struct Wanted(BTreeMap<Step, Wanted>, bool);

impl Wanted {
    fn add(&mut self, steps: &[Step]) {
        match steps.split_first() {
            None => self.1 = true,
            Some((first, rest)) => self.0.entry(first.clone()).or_default().add(rest),
        }
    }

    /// What of `v` this node keeps; None when nothing.
    fn apply(&self, v: &AttributeValue) -> Option<AttributeValue> {
        if self.1 {
            return Some(v.clone());
        }
        match v {
            AttributeValue::M(m) => {
                let out: BTreeMap<String, AttributeValue> = self
                    .0
                    .iter()
                    .filter_map(|(step, node)| match step {
                        Step::Attr(a) => Some((a.clone(), node.apply(m.get(a)?)?)),
                        Step::Index(_) => None,
                    })
                    .collect();
                (!out.is_empty()).then_some(AttributeValue::M(out))
            }
            AttributeValue::L(l) => {
                let out: Vec<AttributeValue> = self
                    .0
                    .iter()
                    .filter_map(|(step, node)| match step {
                        Step::Index(i) => node.apply(l.get(*i)?),
                        Step::Attr(_) => None,
                    })
                    .collect();
                (!out.is_empty()).then_some(AttributeValue::L(out))
            }
            _ => None,
        }
    }
}

/// Runtime errors of an update, with DynamoDB's messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("The provided expression refers to an attribute that does not exist in the item")]
    MissingAttribute,
    #[error("An operand in the update expression has an incorrect data type")]
    WrongType,
    #[error("The document path provided in the update expression is invalid for update")]
    InvalidPath,
    #[error("{0}")]
    Number(#[from] crate::NumberError),
}

fn set_operand(item: &Item, op: &SetOperand) -> Result<AttributeValue, UpdateError> {
    match op {
        SetOperand::Value(v) => Ok(v.clone()),
        SetOperand::Path(p) => resolve(item, p).cloned().ok_or(UpdateError::MissingAttribute),
        SetOperand::IfNotExists(p, default) => match resolve(item, p) {
            Some(v) => Ok(v.clone()),
            None => set_operand(item, default),
        },
        SetOperand::ListAppend(a, b) => match (set_operand(item, a)?, set_operand(item, b)?) {
            (AttributeValue::L(mut x), AttributeValue::L(y)) => {
                x.extend(y);
                Ok(AttributeValue::L(x))
            }
            _ => Err(UpdateError::WrongType),
        },
    }
}

fn set_value(item: &Item, v: &SetValue) -> Result<AttributeValue, UpdateError> {
    match v {
        SetValue::Operand(o) => set_operand(item, o),
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            match (set_operand(item, a)?, set_operand(item, b)?) {
                (AttributeValue::N(x), AttributeValue::N(y)) => {
                    let r = if matches!(v, SetValue::Plus(..)) {
                        x.add(&y)?
                    } else {
                        x.sub(&y)?
                    };
                    Ok(AttributeValue::N(r))
                }
                _ => Err(UpdateError::WrongType),
            }
        }
    }
}

/// The parent container of `path`'s last step (created for top-level attributes only).
fn parent_mut<'a>(item: &'a mut Item, path: &Path) -> Result<Option<&'a mut AttributeValue>, UpdateError> {
    let steps = &path.0;
    if steps.len() == 1 {
        return Ok(None);
    }
    let Step::Attr(first) = &steps[0] else {
        return Err(UpdateError::InvalidPath);
    };
    let mut cur = item.get_mut(first).ok_or(UpdateError::InvalidPath)?;
    for s in &steps[1..steps.len() - 1] {
        cur = match (s, cur) {
            (Step::Attr(a), AttributeValue::M(m)) => m.get_mut(a).ok_or(UpdateError::InvalidPath)?,
            (Step::Index(i), AttributeValue::L(l)) => l.get_mut(*i).ok_or(UpdateError::InvalidPath)?,
            _ => return Err(UpdateError::InvalidPath),
        };
    }
    Ok(Some(cur))
}

fn put(item: &mut Item, path: &Path, v: AttributeValue) -> Result<(), UpdateError> {
    let last = path.0.last().ok_or(UpdateError::InvalidPath)?;
    match (parent_mut(item, path)?, last) {
        (None, Step::Attr(a)) => {
            item.insert(a.clone(), v);
        }
        (Some(AttributeValue::M(m)), Step::Attr(a)) => {
            m.insert(a.clone(), v);
        }
        (Some(AttributeValue::L(l)), Step::Index(i)) => {
            // Beyond the end appends, as DynamoDB does.
            if *i < l.len() {
                l[*i] = v;
            } else {
                l.push(v);
            }
        }
        _ => return Err(UpdateError::InvalidPath),
    }
    Ok(())
}

fn remove(item: &mut Item, path: &Path) -> Result<(), UpdateError> {
    let last = path.0.last().ok_or(UpdateError::InvalidPath)?;
    let parent = match parent_mut(item, path) {
        Ok(p) => p,
        // Removing below something that is not there removes nothing.
        Err(_) => return Ok(()),
    };
    match (parent, last) {
        (None, Step::Attr(a)) => {
            item.remove(a);
        }
        (Some(AttributeValue::M(m)), Step::Attr(a)) => {
            m.remove(a);
        }
        (Some(AttributeValue::L(l)), Step::Index(i)) => {
            if *i < l.len() {
                l.remove(*i);
            }
        }
        _ => return Err(UpdateError::InvalidPath),
    }
    Ok(())
}

/// Applies an update. Right-hand sides read the item as it was before the update.
pub fn apply(item: &mut Item, u: &Update) -> Result<(), UpdateError> {
    let before = item.clone();
    let sets: Vec<(Path, AttributeValue)> = u
        .set
        .iter()
        .map(|(p, v)| Ok((p.clone(), set_value(&before, v)?)))
        .collect::<Result<_, UpdateError>>()?;
    for (p, v) in sets {
        put(item, &p, v)?;
    }
    // Remove list elements from the highest index down so indexes keep their meaning.
    let mut removals: Vec<&Path> = u.remove.iter().collect();
    removals.sort_by(|a, b| b.cmp(a));
    for p in removals {
        remove(item, p)?;
    }
    for (p, v) in &u.add {
        let next = match (resolve(item, p), v) {
            (
                None,
                AttributeValue::N(_) | AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_),
            ) => v.clone(),
            (Some(AttributeValue::N(x)), AttributeValue::N(y)) => AttributeValue::N(x.add(y)?),
            (Some(AttributeValue::Ss(x)), AttributeValue::Ss(y)) => AttributeValue::Ss(union(x, y)),
            (Some(AttributeValue::Ns(x)), AttributeValue::Ns(y)) => AttributeValue::Ns(union(x, y)),
            (Some(AttributeValue::Bs(x)), AttributeValue::Bs(y)) => AttributeValue::Bs(union(x, y)),
            _ => return Err(UpdateError::WrongType),
        };
        put(item, p, next)?;
    }
    for (p, v) in &u.delete {
        let next = match (resolve(item, p), v) {
            (None, AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)) => continue,
            (Some(AttributeValue::Ss(x)), AttributeValue::Ss(y)) => difference(x, y).map(AttributeValue::Ss),
            (Some(AttributeValue::Ns(x)), AttributeValue::Ns(y)) => difference(x, y).map(AttributeValue::Ns),
            (Some(AttributeValue::Bs(x)), AttributeValue::Bs(y)) => difference(x, y).map(AttributeValue::Bs),
            _ => return Err(UpdateError::WrongType),
        };
        match next {
            Some(v) => put(item, p, v)?,
            None => remove(item, p)?,
        }
    }
    Ok(())
}

fn union<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut v: Vec<T> = a.iter().chain(b).cloned().collect();
    v.sort();
    v.dedup();
    v
}

/// `a` without `b`; `None` when nothing is left (the attribute is removed).
fn difference<T: Ord + Clone>(a: &[T], b: &[T]) -> Option<Vec<T>> {
    let v: Vec<T> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
    (!v.is_empty()).then_some(v)
}
