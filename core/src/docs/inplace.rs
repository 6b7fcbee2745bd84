//! In-place numeric updates: `$inc` (and `$set` of a number) applied by patching the stored
//! BSON bytes, when that gives exactly what the general update path (`update.rs`) would.
//!
//! The general path decodes the stored document, applies the operators and re-encodes it: a
//! few dozen allocations for a typical document. The most common update of all — a counter
//! `$inc` by `_id` — changes 4 or 8 bytes. `InPlace::apply` handles it when every target is an
//! existing field reached through embedded documents only (no arrays, no positional paths, no
//! `_id`) holding a number whose BSON type and size the result keeps:
//! - int32 += int32 without overflow (overflow would widen to int64: not in place),
//! - int64 += int32 | int64 without overflow (overflow is an error: the general path reports it),
//! - double += int32 | int64 | double,
//! - `$set` of an int32/int64/double/bool onto a field of the same type.
//!
//! Anything else returns `None` and the caller takes the general path, so semantics never
//! differ (a property test compares both paths on random documents and updates).

use bson::Bson;

/// One target: its path and what to do there.
#[derive(Clone, Debug)]
struct Target {
    path: Vec<String>,
    op: Op,
}

#[derive(Clone, Debug)]
enum Op {
    Inc(Bson),
    Set(Bson),
}

/// A parsed update that may apply in place (see the module comment).
#[derive(Clone, Debug)]
pub struct InPlace {
    targets: Vec<Target>,
}

impl InPlace {
    /// The in-place form of `spec`, when it is only `$inc`/`$set` of numbers (or bools for
    /// `$set`) on plain dotted paths; None otherwise.
    pub fn from_spec(spec: &Bson) -> Option<InPlace> {
        let Bson::Document(spec) = spec else { return None };
        let mut ops = Vec::new();
        for (op, args) in spec {
            let Bson::Document(args) = args else { return None };
            for (path, value) in args {
                ops.push((op.as_str(), path.as_str(), value.clone()));
            }
        }
        InPlace::from_ops(ops)
    }

    /// The in-place form of the update `{op: {path: value}, ...}` given as its (operator, path,
    /// value) triples in order, under the same rules as `from_spec` (which it serves).
    pub fn from_ops<'a>(ops: impl IntoIterator<Item = (&'a str, &'a str, Bson)>) -> Option<InPlace> {
        let mut targets: Vec<Target> = Vec::new();
        for (op, path, value) in ops {
            let op = match (op, &value) {
                ("$inc", Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_)) => Op::Inc(value),
                ("$set", Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Boolean(_)) => Op::Set(value),
                _ => return None,
            };
            let parts: Vec<String> = path.split('.').map(str::to_string).collect();
            let plain = |p: &String| !p.is_empty() && !p.starts_with('$') && !p.bytes().all(|b| b.is_ascii_digit());
            if parts[0] == "_id" || !parts.iter().all(plain) {
                return None;
            }
            // Two targets where one is a prefix of the other conflict: the general path
            // reports that error.
            if targets.iter().any(|t| t.path.iter().zip(&parts).all(|(a, b)| a == b)) {
                return None;
            }
            targets.push(Target { path: parts, op });
        }
        (!targets.is_empty()).then_some(InPlace { targets })
    }

    /// The dotted paths the update writes.
    pub fn paths(&self) -> impl Iterator<Item = &[String]> + Clone + '_ {
        self.targets.iter().map(|t| t.path.as_slice())
    }

    /// Apply to the BSON bytes of a document. Some(changed) when done in place (`bytes` is
    /// patched only if every target can be); None when the general path must run.
    pub fn apply(&self, bytes: &mut [u8]) -> Option<bool> {
        let mut patches: Vec<(usize, Vec<u8>)> = Vec::with_capacity(self.targets.len());
        let mut changed = false;
        for t in &self.targets {
            let (ty, at) = locate(bytes, 0, &t.path)?;
            let (new_bytes, differs) = compute(ty, &bytes[at..], &t.op)?;
            changed |= differs;
            patches.push((at, new_bytes));
        }
        for (at, b) in patches {
            bytes[at..at + b.len()].copy_from_slice(&b);
        }
        Some(changed)
    }
}

/// The element type and value offset of `path` inside the document starting at `doc`.
fn locate(bytes: &[u8], doc: usize, path: &[String]) -> Option<(u8, usize)> {
    let len = i32::from_le_bytes(bytes.get(doc..doc + 4)?.try_into().ok()?) as usize;
    let end = doc.checked_add(len)?.checked_sub(1)?;
    let mut pos = doc + 4;
    let (first, rest) = path.split_first()?;
    while pos < end {
        let ty = *bytes.get(pos)?;
        let key_start = pos + 1;
        let key_len = bytes.get(key_start..end)?.iter().position(|&b| b == 0)?;
        let key = &bytes[key_start..key_start + key_len];
        let value = key_start + key_len + 1;
        let size = value_size(bytes, ty, value)?;
        if key == first.as_bytes() {
            return if rest.is_empty() {
                Some((ty, value))
            } else if ty == 0x03 {
                locate(bytes, value, rest)
            } else {
                None
            };
        }
        pos = value + size;
    }
    None
}

/// Bytes of a value of BSON type `ty` at `at`.
fn value_size(bytes: &[u8], ty: u8, at: usize) -> Option<usize> {
    let i32_at = |p: usize| -> Option<usize> { Some(i32::from_le_bytes(bytes.get(p..p + 4)?.try_into().ok()?) as usize) };
    Some(match ty {
        0x01 | 0x09 | 0x11 | 0x12 => 8,
        0x02 | 0x0D | 0x0E => 4 + i32_at(at)?,
        0x03 | 0x04 | 0x0F => i32_at(at)?,
        0x05 => 5 + i32_at(at)?,
        0x06 | 0x0A | 0x7F | 0xFF => 0,
        0x07 => 12,
        0x08 => 1,
        0x0B => {
            let p = bytes.get(at..)?.iter().position(|&b| b == 0)?;
            let o = bytes.get(at + p + 1..)?.iter().position(|&b| b == 0)?;
            p + 1 + o + 1
        }
        0x0C => 4 + i32_at(at)? + 12,
        0x10 => 4,
        0x13 => 16,
        _ => return None,
    })
}

/// The new value bytes for `op` on a value of type `ty` (same type and size), and whether it
/// differs from the old one; None when the result would change type or size, or is an error.
fn compute(ty: u8, old: &[u8], op: &Op) -> Option<(Vec<u8>, bool)> {
    match (ty, op) {
        (0x10, Op::Inc(Bson::Int32(d))) => {
            let v = i32::from_le_bytes(old.get(..4)?.try_into().ok()?);
            let n = v.checked_add(*d)?;
            Some((n.to_le_bytes().to_vec(), n != v))
        }
        (0x12, Op::Inc(d @ (Bson::Int32(_) | Bson::Int64(_)))) => {
            let v = i64::from_le_bytes(old.get(..8)?.try_into().ok()?);
            let d = match d {
                Bson::Int32(x) => i64::from(*x),
                Bson::Int64(x) => *x,
                _ => return None,
            };
            let n = v.checked_add(d)?;
            Some((n.to_le_bytes().to_vec(), n != v))
        }
        (0x01, Op::Inc(d)) => {
            let v = f64::from_le_bytes(old.get(..8)?.try_into().ok()?);
            let d = match d {
                Bson::Int32(x) => f64::from(*x),
                Bson::Int64(x) => *x as f64,
                Bson::Double(x) => *x,
                _ => return None,
            };
            let n = v + d;
            // NaN never compares equal: the general path counts NaN += x as a change only
            // when the bits differ; leave NaN to it.
            if v.is_nan() || n.is_nan() {
                return None;
            }
            Some((n.to_le_bytes().to_vec(), n.to_bits() != v.to_bits()))
        }
        (0x10, Op::Set(Bson::Int32(x))) => Some((x.to_le_bytes().to_vec(), old.get(..4)? != x.to_le_bytes())),
        (0x12, Op::Set(Bson::Int64(x))) => Some((x.to_le_bytes().to_vec(), old.get(..8)? != x.to_le_bytes())),
        (0x01, Op::Set(Bson::Double(x))) if !x.is_nan() => {
            let v = f64::from_le_bytes(old.get(..8)?.try_into().ok()?);
            // `$set` compares values: 0.0 and -0.0 are equal (no change), and then the stored
            // bits stay as they were.
            if v == *x {
                Some((v.to_le_bytes().to_vec(), false))
            } else {
                Some((x.to_le_bytes().to_vec(), true))
            }
        }
        (0x08, Op::Set(Bson::Boolean(b))) => Some((vec![u8::from(*b)], *old.first()? != u8::from(*b))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::expr::Variables;
    use crate::docs::update::Update;
    use bson::{doc, Document};
    use proptest::prelude::*;

    fn general(doc: &Document, spec: &Document) -> Result<(Document, bool), ()> {
        let u = Update::parse(&Bson::Document(spec.clone()), &[], &Variables::new(bson::DateTime::from_millis(0))).map_err(|_| ())?;
        let mut d = doc.clone();
        let changed = u.apply(&mut d, None, false).map_err(|_| ())?;
        Ok((d, changed))
    }

    fn in_place(doc: &Document, spec: &Document) -> Option<(Document, bool)> {
        let ip = InPlace::from_spec(&Bson::Document(spec.clone()))?;
        let mut bytes = doc.to_vec().unwrap();
        let changed = ip.apply(&mut bytes)?;
        Some((Document::from_reader(&bytes[..]).unwrap(), changed))
    }

    #[test]
    fn counters_are_patched_in_place_as_the_general_path_would() {
        let d = doc! {"_id": 1, "n": 5, "big": 5_i64, "f": 1.5, "flag": false, "p": {"age": 30, "s": "x"}, "a": [1]};
        for spec in [
            doc! {"$inc": {"n": 1}},
            doc! {"$inc": {"big": 10, "f": 2, "p.age": -1}},
            doc! {"$inc": {"n": 0}},
            doc! {"$set": {"n": 9, "flag": true, "f": 1.5}},
            doc! {"$inc": {"f": 1_i64}, "$set": {"p.age": 31}},
        ] {
            let fast = in_place(&d, &spec).unwrap_or_else(|| panic!("{spec} should apply in place"));
            assert_eq!(Ok(fast), general(&d, &spec), "{spec}");
        }
        // Not in place: widening, type changes, arrays, missing fields, _id, conflicts.
        for spec in [
            doc! {"$inc": {"n": 1_i64}},
            doc! {"$inc": {"n": 1.5}},
            doc! {"$inc": {"missing": 1}},
            doc! {"$inc": {"a.0": 1}},
            doc! {"$inc": {"p.s": 1}},
            doc! {"$inc": {"_id": 1}},
            doc! {"$set": {"n": "text"}},
            doc! {"$set": {"n": 1_i64}},
            doc! {"$inc": {"p": 1, "p.age": 1}},
            doc! {"$push": {"a": 1}},
        ] {
            assert!(in_place(&d, &spec).is_none(), "{spec} must take the general path");
        }
        assert!(in_place(&doc! {"n": i32::MAX}, &doc! {"$inc": {"n": 1}}).is_none());
        assert!(in_place(&doc! {"n": i64::MAX}, &doc! {"$inc": {"n": 1}}).is_none());
    }

    fn value() -> impl Strategy<Value = Bson> {
        prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            (-1e6f64..1e6).prop_map(Bson::Double),
            any::<bool>().prop_map(Bson::Boolean),
            "[a-z]{0,5}".prop_map(Bson::String),
            Just(Bson::Null),
        ]
    }

    proptest! {
        #[test]
        fn in_place_agrees_with_the_general_path(
            fields in proptest::collection::vec(("[a-c]", value()), 0..5),
            nested in proptest::collection::vec(("[a-c]", value()), 0..3),
            ops in proptest::collection::vec((prop_oneof![Just("$inc"), Just("$set")], "[a-c](\\.[a-c])?", value()), 1..3),
        ) {
            let mut d = doc! {"_id": 1};
            for (k, v) in fields { d.insert(k, v); }
            let mut sub = Document::new();
            for (k, v) in nested { sub.insert(k, v); }
            d.insert("d", sub);
            let mut spec = Document::new();
            for (op, path, v) in ops {
                let path = if path.contains('.') { format!("d.{}", &path[..1]) } else { path };
                let entry = spec.entry(op.to_string()).or_insert_with(|| Bson::Document(Document::new()));
                if let Bson::Document(args) = entry { args.insert(path, v); }
            }
            // An update with an in-place form always parses (its general parse may wait until
            // a document needs it, so it must never be the one that fails).
            if InPlace::from_spec(&Bson::Document(spec.clone())).is_some() {
                let parsed = Update::parse(&Bson::Document(spec.clone()), &[], &Variables::new(bson::DateTime::from_millis(0)));
                prop_assert!(parsed.is_ok(), "{}", spec);
            }
            if let Some(fast) = in_place(&d, &spec) {
                prop_assert_eq!(Ok(fast), general(&d, &spec), "{} on {}", spec, d);
            }
        }
    }
}
