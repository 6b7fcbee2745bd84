//! Index definition commands on a locked keyspace context: `createIndexes`, `dropIndexes`,
//! `listIndexes`, their oplog entries (`{op: "c", o: {createIndexes: coll, spec}}` /
//! `{dropIndexes: coll, index: name}`), and the TTL sweep that deletes expired documents.
//!
//! A createIndexes command is all or nothing: every spec is parsed and checked against the
//! existing indexes first, and if building one fails (E11000 over existing duplicates,
//! parallel arrays) the ones this command built are dropped again, so nothing is logged.

use bson::{doc, Bson, Document};

use super::super::engine::{self, collection, collection_mut, log, rejected, Namespace};
use super::super::error::codes;
use super::super::DocError;
use super::{IndexSpec, Refusal};
use crate::keyspace::{Ctx, Keyspace};

/// MongoDB's limit on indexes per collection (the `_id` index included).
pub const MAX_INDEXES: usize = 64;

/// What createIndexes did.
pub struct Created {
    pub before: usize,
    pub after: usize,
    pub created_collection: bool,
}

/// Create the indexes `specs` describe on `ns` (creating the collection if needed).
pub(crate) fn create_indexes(ctx: &mut Ctx<'_>, ns: &Namespace, specs: &[Document]) -> Result<Created, DocError> {
    if specs.is_empty() {
        return Err(DocError::bad_value("Must specify at least one index."));
    }
    let parsed = specs.iter().map(IndexSpec::parse).collect::<Result<Vec<_>, _>>()?;
    for (i, a) in parsed.iter().enumerate() {
        if parsed[..i].iter().any(|b| b.name == a.name) {
            return Err(DocError::new(
                codes::INDEX_KEY_SPECS_CONFLICT,
                "IndexKeySpecsConflict",
                format!("Index with name: {} already exists with different options", a.name),
            ));
        }
        if a.text.is_some() && parsed[..i].iter().any(|b| b.text.is_some()) {
            return Err(DocError::new(codes::INDEX_OPTIONS_CONFLICT, "IndexOptionsConflict", "only one text index per collection allowed"));
        }
    }
    let created_collection = collection(ctx, ns)?.is_none();
    let coll = collection_mut(ctx, ns, true)?.expect("created above");
    let before = coll.indexes().len() + 1;
    let mut built: Vec<String> = Vec::new();
    let mut failure = None;
    for spec in parsed {
        if spec.key.len() == 1 && spec.key.contains_key("_id") {
            continue; // the _id index always exists
        }
        match coll.indexes().admits(&spec) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        if coll.indexes().len() + 1 >= MAX_INDEXES {
            failure = Some(DocError::new(
                codes::CANNOT_CREATE_INDEX,
                "CannotCreateIndex",
                format!("add index fails, too many indexes for {} key:{}", ns.key(), spec.key),
            ));
            break;
        }
        let name = spec.name.clone();
        match coll.create_index(spec) {
            Ok(()) => built.push(name),
            Err(Refusal::Invalid(e)) => {
                failure = Some(e);
                break;
            }
            Err(dup) => {
                failure = Some(rejected(ns, &Bson::Null, super::super::collection::Rejected::Index(dup)));
                break;
            }
        }
    }
    if let Some(e) = failure {
        for name in &built {
            coll.drop_index(name);
        }
        return Err(e);
    }
    let after = coll.indexes().len() + 1;
    let stored: Vec<Document> = built.iter().filter_map(|n| coll.indexes().get(n).map(|i| i.spec.to_stored())).collect();
    let ttl = built.iter().any(|n| coll.indexes().get(n).is_some_and(|i| i.spec.expire_after_seconds.is_some()));
    for spec in stored {
        log(ctx, &doc! {"op": "c", "ns": format!("{}.$cmd", ns.db), "o": {"createIndexes": &ns.coll, "spec": spec}});
    }
    if ttl {
        ctx.keyspace().ttl_namespaces.lock().insert(ns.key().to_string());
    }
    if !built.is_empty() {
        engine::touched_pub(ctx, ns);
    }
    Ok(Created { before, after, created_collection })
}

/// Which indexes dropIndexes names.
pub enum Which {
    All,
    Name(String),
    Names(Vec<String>),
    Key(Document),
}

impl Which {
    pub fn parse(v: Option<&Bson>) -> Result<Which, DocError> {
        match v {
            Some(Bson::String(s)) if s == "*" => Ok(Which::All),
            Some(Bson::String(s)) => Ok(Which::Name(s.clone())),
            Some(Bson::Document(d)) => Ok(Which::Key(d.clone())),
            Some(Bson::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Bson::String(s) => Ok(s.clone()),
                    _ => Err(DocError::type_mismatch("dropIndexes 'index' array entries must be strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Which::Names),
            Some(_) => {
                Err(DocError::type_mismatch("BSON field 'dropIndexes.index' is the wrong type, expected types '[string, object, array]'"))
            }
            None => Err(DocError::bad_value("BSON field 'dropIndexes.index' is missing but a required field")),
        }
    }
}

fn not_found(what: &str) -> DocError {
    DocError::new(codes::INDEX_NOT_FOUND, "IndexNotFound", what.to_string())
}

/// Drop indexes; the number of indexes there were (with `_id_`).
pub(crate) fn drop_indexes(ctx: &mut Ctx<'_>, ns: &Namespace, which: &Which) -> Result<usize, DocError> {
    let Some(coll) = collection_mut(ctx, ns, false)? else {
        return Err(DocError::new(codes::NAMESPACE_NOT_FOUND, "NamespaceNotFound", format!("ns not found {}", ns.key())));
    };
    let was = coll.indexes().len() + 1;
    let id_index = |n: &str| n == "_id_";
    let names: Vec<String> = match which {
        Which::All => coll.indexes().iter().map(|i| i.spec.name.clone()).collect(),
        Which::Name(n) if id_index(n) => return Err(DocError::new(codes::INVALID_OPTIONS, "InvalidOptions", "cannot drop _id index")),
        Which::Name(n) => match coll.indexes().get(n) {
            Some(_) => vec![n.clone()],
            None => return Err(not_found(&format!("index not found with name [{n}]"))),
        },
        Which::Names(list) => {
            for n in list {
                if id_index(n) {
                    return Err(DocError::new(codes::INVALID_OPTIONS, "InvalidOptions", "cannot drop _id index"));
                }
                if coll.indexes().get(n).is_none() {
                    return Err(not_found(&format!("index not found with name [{n}]")));
                }
            }
            list.clone()
        }
        Which::Key(k) => {
            if k.len() == 1 && k.contains_key("_id") {
                return Err(DocError::new(codes::INVALID_OPTIONS, "InvalidOptions", "cannot drop _id index"));
            }
            let found: Vec<String> = coll.indexes().iter().filter(|i| i.spec.has_key(k)).map(|i| i.spec.name.clone()).collect();
            match found.len() {
                0 => return Err(not_found(&format!("can't find index with key: {k}"))),
                1 => found,
                _ => {
                    return Err(DocError::new(
                        codes::BAD_VALUE,
                        "BadValue",
                        format!("{} indexes found for key: {k}, identify by name instead. Conflicting indexes: {found:?}", found.len()),
                    ))
                }
            }
        }
    };
    for n in &names {
        coll.drop_index(n);
    }
    for n in &names {
        log(ctx, &doc! {"op": "c", "ns": format!("{}.$cmd", ns.db), "o": {"dropIndexes": &ns.coll, "index": n}});
    }
    if !names.is_empty() {
        engine::touched_pub(ctx, ns);
    }
    Ok(was)
}

/// listIndexes: `_id_` first, then the others in creation order.
pub(crate) fn list_indexes(ctx: &Ctx<'_>, ns: &Namespace) -> Result<Vec<Document>, DocError> {
    let Some(coll) = collection(ctx, ns)? else {
        return Err(DocError::new(codes::NAMESPACE_NOT_FOUND, "NamespaceNotFound", format!("ns does not exist: {}", ns.key())));
    };
    let mut out = vec![doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"}];
    out.extend(coll.indexes().iter().map(|i| i.spec.to_document()));
    Ok(out)
}

/// Apply a logged createIndexes / dropIndexes entry (recovery).
pub(crate) fn replay(ctx: &mut Ctx<'_>, db: &str, o: &Document) -> Result<bool, String> {
    if let (Ok(coll), Ok(spec)) = (o.get_str("createIndexes"), o.get_document("spec")) {
        let ns = Namespace::new(db, coll).map_err(|e| e.to_string())?;
        let spec = IndexSpec::parse(spec).map_err(|e| format!("replaying createIndexes on {}: {e}", ns.key()))?;
        let ttl = spec.expire_after_seconds.is_some();
        let c = collection_mut(ctx, &ns, true).map_err(|e| e.to_string())?.ok_or("collection missing")?;
        c.drop_index(&spec.name.clone());
        c.create_index(spec).map_err(|e| format!("replaying createIndexes on {}: {e:?}", ns.key()))?;
        if ttl {
            ctx.keyspace().ttl_namespaces.lock().insert(ns.key().to_string());
        }
        return Ok(true);
    }
    if let (Ok(coll), Ok(name)) = (o.get_str("dropIndexes"), o.get_str("index")) {
        let ns = Namespace::new(db, coll).map_err(|e| e.to_string())?;
        if let Some(c) = collection_mut(ctx, &ns, false).map_err(|e| e.to_string())? {
            c.drop_index(name);
        }
        return Ok(true);
    }
    Ok(false)
}

/// Delete the documents TTL indexes have expired, in every collection that has one (run by
/// the background thread about once a second). Deletes are ordinary logged deletes. The
/// collections come from `Keyspace::ttl_namespaces`, which the snapshot load, replay and
/// createIndexes keep, so no sweep walks the keyspace (walking it once after open, a shard per
/// read lock, stalled writers and a snapshot's cut for up to 350 ms at 5M keys).
pub(crate) fn ttl_sweep(ks: &Keyspace) {
    let namespaces: Vec<String> = ks.ttl_namespaces.lock().iter().cloned().collect();
    if namespaces.is_empty() || ks.check_writable().is_err() {
        return;
    }
    let now = bson::DateTime::now().timestamp_millis();
    for key in namespaces {
        let Ok(ns) = Namespace::parse(&key) else { continue };
        // The TTL fields, read under a read lock.
        let ttl: Vec<(String, i64)> = {
            let set = crate::keyspace::LockSet::One(crate::keyspace::shard_of(crate::keyspace::dict::hash_bytes(key.as_bytes())));
            let ctx = ks.lock(&set, false);
            match collection(&ctx, &ns) {
                Ok(Some(c)) => c
                    .indexes()
                    .iter()
                    .filter_map(|i| Some((i.spec.fields.first()?.path.dotted.clone(), i.spec.expire_after_seconds?)))
                    .collect(),
                _ => Vec::new(),
            }
        };
        if ttl.is_empty() {
            ks.ttl_namespaces.lock().remove(&key);
            continue;
        }
        for (field, secs) in ttl {
            let cutoff = bson::DateTime::from_millis(now.saturating_sub(secs.saturating_mul(1000)));
            let cmd = doc! {"delete": &ns.coll, "deletes": [{"q": {&field: {"$lt": cutoff}}, "limit": 0}]};
            // A failure (the database turned read-only, out of memory) is retried next sweep.
            let _ = super::super::command::run(ks, &ns.db, &cmd);
        }
    }
}
