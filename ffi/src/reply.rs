//! `nestdb_reply`: a command's reply as a tree of hiredis-shaped structs.
//!
//! Memory layout: the whole tree is ONE malloc block, so building a reply costs one allocation
//! and `nestdb_reply_free` one `free`, however large the tree:
//!
//! ```text
//! [ node 0 (root) | node 1 | ... | node N-1 ][ element arrays (pointers) ][ string bytes, each + NUL ]
//! ```
//!
//! The root is at offset 0, so the block is freed through the root pointer. Children of an
//! aggregate occupy consecutive node slots; `element` points into the pointer area and `str`
//! into the byte area. Nodes and pointers are 8-byte sized, so every area stays aligned.
//! Building is two passes over the core `Reply`: `measure` computes the three area sizes,
//! `Writer::node` fills them in the same order (each cursor must end exactly at its area's
//! end). Cost: O(total nodes + total bytes).
//!
//! Mapping from the RESP3-shaped core reply (`nestdb::Reply`) — the same as hiredis with RESP3:
//! Bulk -> STRING, Status -> STATUS, Error -> ERROR, Int -> INTEGER, Nil -> NIL,
//! Double -> DOUBLE (`dval`, and `str` its printed form), Array -> ARRAY,
//! Map -> MAP with `elements` = 2 × pairs, keys and values alternating.

use std::ffi::{c_char, c_double, c_int, c_longlong, c_void};
use std::mem::size_of;
use std::ptr;

use nestdb::Reply;

use crate::alloc;

/// Reply type: binary-safe bytes in str/len (GET, HGET, LPOP...).
pub const NESTDB_REPLY_STRING: c_int = 1;
/// Reply type: element[0 .. elements-1] (LRANGE, SMEMBERS, EXEC...).
pub const NESTDB_REPLY_ARRAY: c_int = 2;
/// Reply type: a 64-bit signed integer in `integer` (INCR, DEL, TTL...).
pub const NESTDB_REPLY_INTEGER: c_int = 3;
/// Reply type: the null reply (a missing key, an aborted EXEC); no field is set.
pub const NESTDB_REPLY_NIL: c_int = 4;
/// Reply type: a status line in str/len, such as "OK", "PONG" or "QUEUED".
pub const NESTDB_REPLY_STATUS: c_int = 5;
/// Reply type: a command error; str/len hold Redis's error text with its prefix, e.g.
/// "WRONGTYPE Operation against a key holding the wrong kind of value".
pub const NESTDB_REPLY_ERROR: c_int = 6;
/// Reply type: a floating point number (sorted-set scores) in `dval`, with str/len its printed
/// form as Redis prints it ("1.5", "inf", "-inf").
pub const NESTDB_REPLY_DOUBLE: c_int = 7;
/// Reply type: key/value pairs (HGETALL, CONFIG GET): `elements` is twice the number of pairs,
/// element[2*i] is the i-th key and element[2*i+1] its value.
pub const NESTDB_REPLY_MAP: c_int = 9;

/// One reply, shaped like hiredis's redisReply. Which fields are set depends on `type`
/// (fields not listed are 0 or NULL):
///
/// | type                  | fields                                                     |
/// |-----------------------|------------------------------------------------------------|
/// | NESTDB_REPLY_STRING   | str, len (binary-safe: may contain NUL bytes)              |
/// | NESTDB_REPLY_STATUS   | str, len                                                   |
/// | NESTDB_REPLY_ERROR    | str, len                                                   |
/// | NESTDB_REPLY_DOUBLE   | dval; str, len (its printed form)                          |
/// | NESTDB_REPLY_INTEGER  | integer                                                    |
/// | NESTDB_REPLY_NIL      | (none)                                                     |
/// | NESTDB_REPLY_ARRAY    | elements, element (NULL when elements is 0)                |
/// | NESTDB_REPLY_MAP      | elements (2 x pairs), element: key, value, key, value...   |
///
/// Whenever str is set it is also NUL-terminated (str[len] == '\0'), so text replies can be
/// used as C strings; binary data must be read with len.
///
/// A reply and everything it points to (str, element, the elements' own fields) is one
/// allocation owned by the caller of nestdb_command_argv(): read it freely, from any thread,
/// until nestdb_reply_free() on the root reply. Do not modify it and never free an element.
/// New reply types may be added (with new NESTDB_REPLY_ values): treat an unknown type like
/// an error you cannot interpret.
#[repr(C)]
pub struct nestdb_reply {
    /// One of the NESTDB_REPLY_ constants.
    pub r#type: c_int,
    /// The value of an NESTDB_REPLY_INTEGER reply.
    pub integer: c_longlong,
    /// The value of an NESTDB_REPLY_DOUBLE reply.
    pub dval: c_double,
    /// The length of str in bytes, not counting the terminating NUL.
    pub len: usize,
    /// Bytes of a STRING, STATUS, ERROR or DOUBLE reply, NUL-terminated; NULL otherwise.
    pub str: *mut c_char,
    /// The number of elements of an ARRAY or MAP reply.
    pub elements: usize,
    /// The elements of an ARRAY or MAP reply; NULL when there are none.
    pub element: *mut *mut nestdb_reply,
}

/// The C shape of one core reply: what `measure` and `Writer::node` agree on.
enum Shape<'a> {
    Nil,
    Int(i64),
    Double(f64, String),
    Text(c_int, &'a [u8]),
    Array(&'a [Reply]),
    Map(&'a [(Reply, Reply)]),
}

const UNREPRESENTABLE: &[u8] = b"ERR reply type not supported by the C API";

fn shape(r: &Reply) -> Shape<'_> {
    match r {
        Reply::Nil => Shape::Nil,
        Reply::Int(i) => Shape::Int(*i),
        Reply::Double(d) => Shape::Double(*d, format_double(*d)),
        Reply::Bulk(b) => Shape::Text(NESTDB_REPLY_STRING, b),
        Reply::Status(s) => Shape::Text(NESTDB_REPLY_STATUS, s.as_bytes()),
        Reply::Error(e) => Shape::Text(NESTDB_REPLY_ERROR, e.as_bytes()),
        Reply::Array(a) => Shape::Array(a),
        Reply::Map(m) => Shape::Map(m),
        // `Reply` is non-exhaustive; a variant added to core needs a mapping here.
        _ => Shape::Text(NESTDB_REPLY_ERROR, UNREPRESENTABLE),
    }
}

/// How Redis prints a double reply (the RESP2 bulk text; hiredis keeps the same text in `str`
/// for RESP3 doubles). Mirrors the core's score formatting: shortest round-trip digits,
/// integral values without a fraction, "inf"/"-inf", and no "-0".
pub(crate) fn format_double(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = if v.fract() == 0.0 && v.abs() < 1e17 { format!("{}", v as i64) } else { format!("{v}") };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// Sizes of the three areas of a reply block.
#[derive(Default, Debug, PartialEq)]
struct Sizes {
    nodes: usize,
    pointers: usize,
    bytes: usize,
}

/// Count the nodes, element pointers and string bytes (with NULs) below and including `r`.
fn measure(r: &Reply, s: &mut Sizes) {
    s.nodes += 1;
    match shape(r) {
        Shape::Nil | Shape::Int(_) => {}
        Shape::Double(_, text) => s.bytes += text.len() + 1,
        Shape::Text(_, b) => s.bytes += b.len() + 1,
        Shape::Array(items) => {
            s.pointers += items.len();
            for item in items {
                measure(item, s);
            }
        }
        Shape::Map(pairs) => {
            s.pointers += 2 * pairs.len();
            for (k, v) in pairs {
                measure(k, s);
                measure(v, s);
            }
        }
    }
}

/// Cursors into the three areas of a block being filled.
struct Writer {
    nodes: *mut nestdb_reply,
    pointers: *mut *mut nestdb_reply,
    bytes: *mut u8,
}

impl Writer {
    /// Take `n` consecutive node slots.
    fn take_nodes(&mut self, n: usize) -> *mut nestdb_reply {
        let p = self.nodes;
        // SAFETY (of the add): measure counted these slots, so the cursor stays within the area.
        self.nodes = unsafe { p.add(n) };
        p
    }

    /// Copy `b` plus a NUL into the byte area; returns where it starts.
    fn text(&mut self, b: &[u8]) -> *mut c_char {
        let p = self.bytes;
        // SAFETY: measure reserved b.len() + 1 bytes at this cursor; the source is a Rust slice
        // that cannot overlap the fresh block.
        unsafe {
            ptr::copy_nonoverlapping(b.as_ptr(), p, b.len());
            p.add(b.len()).write(0);
            self.bytes = p.add(b.len() + 1);
        }
        p.cast()
    }

    /// Write `r` into the (already taken) slot `at`, then its children.
    fn node(&mut self, r: &Reply, at: *mut nestdb_reply) {
        let mut out = nestdb_reply {
            r#type: NESTDB_REPLY_NIL,
            integer: 0,
            dval: 0.0,
            len: 0,
            str: ptr::null_mut(),
            elements: 0,
            element: ptr::null_mut(),
        };
        let mut children: Vec<&Reply> = Vec::new();
        match shape(r) {
            Shape::Nil => {}
            Shape::Int(i) => {
                out.r#type = NESTDB_REPLY_INTEGER;
                out.integer = i;
            }
            Shape::Double(d, text) => {
                out.r#type = NESTDB_REPLY_DOUBLE;
                out.dval = d;
                out.len = text.len();
                out.str = self.text(text.as_bytes());
            }
            Shape::Text(t, b) => {
                out.r#type = t;
                out.len = b.len();
                out.str = self.text(b);
            }
            Shape::Array(items) => {
                out.r#type = NESTDB_REPLY_ARRAY;
                children.extend(items);
            }
            Shape::Map(pairs) => {
                out.r#type = NESTDB_REPLY_MAP;
                children.extend(pairs.iter().flat_map(|(k, v)| [k, v]));
            }
        }
        if !children.is_empty() {
            let n = children.len();
            let slots = self.take_nodes(n);
            let element = self.pointers;
            // SAFETY: measure reserved n pointers at this cursor and n node slots at `slots`.
            unsafe {
                for i in 0..n {
                    element.add(i).write(slots.add(i));
                }
                self.pointers = element.add(n);
            }
            out.elements = n;
            out.element = element;
            // SAFETY: `at` is a slot taken for this node (aligned, inside the block).
            unsafe { at.write(out) };
            for (i, child) in children.into_iter().enumerate() {
                // SAFETY: slot i of the n just taken.
                self.node(child, unsafe { slots.add(i) });
            }
        } else {
            // SAFETY: as above.
            unsafe { at.write(out) };
        }
    }
}

/// Build the C form of `r` as one malloc block; NULL when out of memory (or the size does
/// not fit in memory).
pub(crate) fn to_c(r: &Reply) -> *mut nestdb_reply {
    let mut s = Sizes::default();
    measure(r, &mut s);
    let total = s
        .nodes
        .checked_mul(size_of::<nestdb_reply>())
        .and_then(|n| s.pointers.checked_mul(size_of::<*mut nestdb_reply>()).and_then(|p| n.checked_add(p)))
        .and_then(|np| np.checked_add(s.bytes))
        .filter(|&t| t <= isize::MAX as usize);
    let Some(total) = total else { return ptr::null_mut() };
    let base = alloc::c_alloc(total);
    if base.is_null() {
        return ptr::null_mut();
    }
    let node_area = s.nodes * size_of::<nestdb_reply>();
    let pointer_area = s.pointers * size_of::<*mut nestdb_reply>();
    // SAFETY: offsets within the `total`-byte block; malloc aligns for any type and both
    // struct and pointer sizes are multiples of their alignment.
    let mut w = unsafe { Writer { nodes: base.cast(), pointers: base.add(node_area).cast(), bytes: base.add(node_area + pointer_area) } };
    let root = w.take_nodes(1);
    w.node(r, root);
    debug_assert_eq!(w.nodes.cast::<u8>(), unsafe { base.add(node_area) });
    debug_assert_eq!(w.pointers.cast::<u8>(), unsafe { base.add(node_area + pointer_area) });
    debug_assert_eq!(w.bytes, unsafe { base.add(total) });
    root
}

/// Free a reply returned by nestdb_command_argv(), with all its elements and strings.
///
/// @param r  the root reply exactly as nestdb_command_argv() returned it, or NULL (a no-op).
///           Passing an element of a reply, or a reply already freed, is undefined.
///           After this call no pointer obtained from the reply may be used.
#[no_mangle]
pub unsafe extern "C" fn nestdb_reply_free(r: *mut nestdb_reply) {
    // SAFETY: a root reply is the start of its malloc block (see the module comment).
    unsafe { alloc::c_free(r.cast::<c_void>()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// Read a C reply back into a core Reply (Double compared through dval, text checked).
    unsafe fn back(p: *const nestdb_reply) -> Reply {
        let r = unsafe { &*p };
        let text = || {
            assert!(!r.str.is_null());
            let b = unsafe { std::slice::from_raw_parts(r.str.cast::<u8>(), r.len) };
            assert_eq!(unsafe { *r.str.add(r.len) }, 0, "NUL-terminated");
            b.to_vec()
        };
        let kids = || {
            if r.elements == 0 {
                assert!(r.element.is_null());
                return Vec::new();
            }
            (0..r.elements).map(|i| unsafe { back(*r.element.add(i)) }).collect::<Vec<_>>()
        };
        match r.r#type {
            NESTDB_REPLY_NIL => {
                assert!(r.str.is_null() && r.element.is_null());
                Reply::Nil
            }
            NESTDB_REPLY_INTEGER => Reply::Int(r.integer),
            NESTDB_REPLY_DOUBLE => {
                assert_eq!(String::from_utf8(text()).unwrap(), format_double(r.dval));
                Reply::Double(r.dval)
            }
            NESTDB_REPLY_STRING => Reply::Bulk(text()),
            NESTDB_REPLY_STATUS => Reply::Status(Cow::Owned(String::from_utf8(text()).unwrap())),
            NESTDB_REPLY_ERROR => Reply::Error(Cow::Owned(String::from_utf8(text()).unwrap())),
            NESTDB_REPLY_ARRAY => Reply::Array(kids()),
            NESTDB_REPLY_MAP => {
                let k = kids();
                assert_eq!(k.len() % 2, 0);
                Reply::Map(k.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect())
            }
            t => panic!("unknown type {t}"),
        }
    }

    fn round_trip(r: Reply) {
        let c = to_c(&r);
        assert!(!c.is_null());
        assert_eq!(unsafe { back(c) }, r);
        unsafe { nestdb_reply_free(c) };
    }

    #[test]
    fn every_shape_round_trips() {
        round_trip(Reply::Nil);
        round_trip(Reply::Int(i64::MIN));
        round_trip(Reply::Double(1.5));
        round_trip(Reply::Double(f64::NEG_INFINITY));
        round_trip(Reply::Bulk(b"a\0b".to_vec()));
        round_trip(Reply::Bulk(Vec::new()));
        round_trip(Reply::OK);
        round_trip(Reply::Error(Cow::Borrowed("WRONGTYPE Operation against a key holding the wrong kind of value")));
        round_trip(Reply::Array(Vec::new()));
        round_trip(Reply::Map(Vec::new()));
        round_trip(Reply::Array(vec![
            Reply::Array(vec![Reply::Bulk(b"m".to_vec()), Reply::Double(2.0)]),
            Reply::Map(vec![(Reply::Bulk(b"k".to_vec()), Reply::Array(vec![Reply::Nil, Reply::Int(3)]))]),
            Reply::Bulk(b"tail".to_vec()),
        ]));
        round_trip(Reply::Array((0..10_000).map(|i| Reply::Bulk(i.to_string().into_bytes())).collect()));
    }

    #[test]
    fn sizes_count_every_area() {
        let r = Reply::Map(vec![(Reply::Bulk(b"ab".to_vec()), Reply::Double(0.5))]);
        let mut s = Sizes::default();
        measure(&r, &mut s);
        assert_eq!(s, Sizes { nodes: 3, pointers: 2, bytes: 3 + 4 });
    }

    #[test]
    fn map_is_flattened_like_hiredis() {
        let c = to_c(&Reply::Map(vec![(Reply::Bulk(b"f".to_vec()), Reply::Bulk(b"v".to_vec()))]));
        let r = unsafe { &*c };
        assert_eq!((r.r#type, r.elements), (NESTDB_REPLY_MAP, 2));
        let v = unsafe { &**r.element.add(1) };
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(v.str) }.to_bytes(), b"v");
        unsafe { nestdb_reply_free(c) };
    }

    #[test]
    fn doubles_print_like_redis() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-0.0), "0");
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
    }
}
