//! Geo commands: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH, GEOSEARCHSTORE, GEORADIUS,
//! GEORADIUS_RO, GEORADIUSBYMEMBER and GEORADIUSBYMEMBER_RO, as Redis 7.0's `geo.c`,
//! `geohash.c` and `geohash_helper.c` do them, as redis-server 7.0.15 runs them (its distances take the
//! equal-longitude shortcut of later 7.x sources).
//!
//! A geo set is a plain sorted set: each member's score is its position as a 52-bit
//! interleaved geohash (26 bits of longitude over -180..180, 26 of latitude over
//! -85.05112878..85.05112878, latitude in the even bits). Every score is computed with the same
//! floating-point operations, in the same order, as Redis's C code, so scores, distances and
//! printed coordinates are bit for bit Redis's; anything that reads a score (a ZADD'ed one
//! included) decodes it the way Redis does, through C's `(uint64_t)` conversion on x86-64.
//!
//! Searches: the area is covered by a geohash box of an estimated step and its 8 neighbours
//! (`areas_for_shape`); each box is a score range `[min, max)` of the set, walked in order
//! (O(log n + m) per box), and each point is kept if it is inside the circle or box. Results
//! keep Redis's order: boxes in Redis's order, points by (score, member) inside a box; sorting
//! is glibc's stable merge sort (`qsort`) for a full sort and a port of Redis's `pqsort` when
//! COUNT selects fewer points than were found, so ties (and COUNT's choice among them) match.
//! COUNT ANY stops the walk once COUNT points are found.
//!
//! Replies (RESP3, as Redis 7.0 sends them): coordinates are doubles printed `%.17Lf` and
//! trimmed (`addReplyHumanLongDouble`), so `Reply::Double` holds the value of that text;
//! distances are `%.4f` bulk strings; hashes integers. Scripts see coordinates as bulk strings
//! of that text (`coords_as_bulk`), as RESP2 sends them.
//!
//! Writes: GEOADD is ZADD with computed scores (NX/XX/CH); the STORE variants replace the
//! destination whole with a sorted set of the results (scores: geohashes, or distances in the
//! query's unit with STOREDIST) or delete it when there are none.

use super::args::{self, is, syntax};
use super::{CmdResult, CommandSpec, DENYOOM, WRITE};
use crate::keyspace::Ctx;
use crate::reply::Reply;
use crate::types::{Value, ZSetValue};
use crate::util::csort::{glibc_qsort, pqsort};
use crate::util::ldouble::LongDouble;
use crate::util::num;

const K1: (i32, i32, i32) = (1, 1, 1);
const W: u32 = WRITE | DENYOOM;

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, W, K1, geoadd),
    CommandSpec::new("geodist", -4, 0, K1, geodist),
    CommandSpec::new("geohash", -2, 0, K1, geohash),
    CommandSpec::new("geopos", -2, 0, K1, geopos),
    CommandSpec::new("geosearch", -7, 0, K1, geosearch),
    CommandSpec::new("geosearchstore", -8, W, (1, 2, 1), geosearchstore),
    CommandSpec::new("georadius", -6, W, K1, georadius).with_keys_fn(georadius_keys),
    CommandSpec::new("georadius_ro", -6, 0, K1, georadius_ro),
    CommandSpec::new("georadiusbymember", -5, W, K1, georadiusbymember).with_keys_fn(georadius_keys),
    CommandSpec::new("georadiusbymember_ro", -5, 0, K1, georadiusbymember_ro),
];

/// The source key and every argument after a STORE / STOREDIST keyword (Redis's
/// `georadiusGetKeys` scans from argument 5; listing every candidate keeps the lock set a
/// superset of what the command may write).
fn georadius_keys(a: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut i = 5;
    while i + 1 < a.len() {
        if is(a[i], "STORE") || is(a[i], "STOREDIST") {
            keys.push(i + 1);
            i += 1;
        }
        i += 1;
    }
    keys
}

// ---------------------------------------------------------------------------------------------
// Geohash (geohash.c)
// ---------------------------------------------------------------------------------------------

const GEO_STEP_MAX: u8 = 26;
const GEO_LAT_MIN: f64 = -85.05112878;
const GEO_LAT_MAX: f64 = 85.05112878;
const GEO_LONG_MIN: f64 = -180.0;
const GEO_LONG_MAX: f64 = 180.0;

/// The coordinate ranges of stored positions.
const WGS84: (Range, Range) = (Range { min: GEO_LONG_MIN, max: GEO_LONG_MAX }, Range { min: GEO_LAT_MIN, max: GEO_LAT_MAX });
/// The standard geohash ranges GEOHASH's strings use.
const STANDARD: (Range, Range) = (Range { min: -180.0, max: 180.0 }, Range { min: -90.0, max: 90.0 });

#[derive(Clone, Copy, Debug, PartialEq)]
struct Range {
    min: f64,
    max: f64,
}

/// A geohash cell: `step` bits of each coordinate, interleaved (latitude in the even bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HashBits {
    bits: u64,
    step: u8,
}

impl HashBits {
    /// Redis's GZERO marks a neighbour as not to be searched.
    const ZERO: HashBits = HashBits { bits: 0, step: 0 };

    fn is_zero(self) -> bool {
        self == Self::ZERO
    }

    /// The 52-bit score prefix of this cell (`geohashAlign52Bits`).
    fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

/// A cell's extent.
#[derive(Clone, Copy, Debug)]
struct Area {
    lon: Range,
    lat: Range,
}

/// Bits of `x` in the even positions, bits of `y` in the odd ones.
fn interleave64(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse of `interleave64`: even bits in the low half, odd bits in the high half.
fn deinterleave64(v: u64) -> u64 {
    fn squash(mut v: u64) -> u64 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
    }
    squash(v) | (squash(v >> 1) << 32)
}

/// C's `(uint32_t)` of a double in range (gcc converts through a 64-bit integer).
fn c_u32(v: f64) -> u32 {
    v as i64 as u32
}

/// C's `(uint64_t)` of a double as gcc compiles it for x86-64 (`cvttsd2si`, with 2^63
/// subtracted first at or above 2^63): negative values wrap, out-of-range values give
/// 2^63 or 0. Rust's `as` saturates instead, hence this.
fn c_u64(v: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    let cvtt = |x: f64| if (-TWO63..TWO63).contains(&x) { x as i64 as u64 } else { 1 << 63 };
    if v < TWO63 {
        cvtt(v)
    } else {
        cvtt(v - TWO63) ^ (1 << 63)
    }
}

/// `geohashEncode`: the cell of `step` bits holding (lon, lat), or None outside the ranges.
fn encode(ranges: &(Range, Range), lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    let (lon_r, lat_r) = ranges;
    if !(1..=32).contains(&step) {
        return None;
    }
    if !(GEO_LONG_MIN..=GEO_LONG_MAX).contains(&lon) || !(GEO_LAT_MIN..=GEO_LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let mut lat_offset = (lat - lat_r.min) / (lat_r.max - lat_r.min);
    let mut lon_offset = (lon - lon_r.min) / (lon_r.max - lon_r.min);
    let cells = (1u64 << step) as f64;
    lat_offset *= cells;
    lon_offset *= cells;
    Some(HashBits { bits: interleave64(c_u32(lat_offset), c_u32(lon_offset)), step })
}

/// `geohashDecode`: the extent of a cell (None for the zero cell).
fn decode(ranges: &(Range, Range), hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let (lon_r, lat_r) = ranges;
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    let ilat = sep as u32;
    let ilon = (sep >> 32) as u32;
    let cells = (1u64 << hash.step) as f64;
    // `ilato + 1` is unsigned int arithmetic in C: it wraps.
    let edge = |i: u32, min: f64, scale: f64| min + (f64::from(i) * 1.0 / cells) * scale;
    Some(Area {
        lat: Range { min: edge(ilat, lat_r.min, lat_scale), max: edge(ilat.wrapping_add(1), lat_r.min, lat_scale) },
        lon: Range { min: edge(ilon, lon_r.min, lon_scale), max: edge(ilon.wrapping_add(1), lon_r.min, lon_scale) },
    })
}

/// `geohashDecodeAreaToLongLat`: a cell's centre, clamped to the valid ranges (a score that is
/// no geohash can decode far outside them).
fn area_center(area: &Area) -> [f64; 2] {
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(GEO_LONG_MIN, GEO_LONG_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(GEO_LAT_MIN, GEO_LAT_MAX);
    [lon, lat]
}

/// The 52-bit score of a position (GEOADD).
fn score_of(lon: f64, lat: f64) -> u64 {
    encode(&WGS84, lon, lat, GEO_STEP_MAX).map_or(0, HashBits::align52)
}

/// Redis's `decodeGeohash`: the position a score stands for.
fn position_of(score: f64) -> [f64; 2] {
    let hash = HashBits { bits: c_u64(score), step: GEO_STEP_MAX };
    decode(&WGS84, hash).map_or([0.0, 0.0], |a| area_center(&a))
}

const GEOALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// GEOHASH's 11-character standard geohash of a position (the last character is always '0':
/// 52 bits make 10 characters and a bit).
fn standard_geohash(lon: f64, lat: f64) -> [u8; 11] {
    let bits = encode(&STANDARD, lon, lat, GEO_STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = GEOALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

/// `geohash_move_x` / `geohash_move_y`: the cell `d` steps east (x) or north (y), wrapping.
fn move_axis(hash: &mut HashBits, d: i8, x_axis: bool) {
    if d == 0 {
        return;
    }
    const ODD: u64 = 0xaaaa_aaaa_aaaa_aaaa;
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let (moving_mask, other_mask) = if x_axis { (ODD, EVEN) } else { (EVEN, ODD) };
    let mut m = hash.bits & moving_mask;
    let other = hash.bits & other_mask;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = other_mask >> shift;
    if d > 0 {
        m = m.wrapping_add(zz + 1);
    } else {
        m |= zz;
        m = m.wrapping_sub(zz + 1);
    }
    m &= moving_mask >> shift;
    hash.bits = m | other;
}

fn moved(mut hash: HashBits, dx: i8, dy: i8) -> HashBits {
    move_axis(&mut hash, dx, true);
    move_axis(&mut hash, dy, false);
    hash
}

// ---------------------------------------------------------------------------------------------
// Distances and search areas (geohash_helper.c)
// ---------------------------------------------------------------------------------------------

const D_R: f64 = std::f64::consts::PI / 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// `geohashGetLatDistance`: the distance between two latitudes on one meridian, in meters.
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Haversine great-circle distance in meters, operation for operation as redis-server 7.0.15
/// computes it (`geohashGetDistance`, with its shortcut for equal longitudes).
fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// What a search covers, in the query's unit (`conversion` meters per unit).
#[derive(Clone, Copy, Debug)]
enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    /// Centre (longitude, latitude).
    xy: [f64; 2],
    conversion: f64,
    kind: ShapeKind,
}

impl Shape {
    /// The distance from the centre to (lon, lat) in meters if the point is inside the shape
    /// (`geohashGetDistanceIfInRadiusWGS84` / `geohashGetDistanceIfInRectangle`: latitude
    /// first, then longitude along the point's parallel).
    fn distance_if_inside(&self, lon: f64, lat: f64) -> Option<f64> {
        let [x1, y1] = self.xy;
        match self.kind {
            ShapeKind::Radius(r) => {
                let d = distance(x1, y1, lon, lat);
                (d <= r * self.conversion || d.is_nan()).then_some(d)
            }
            ShapeKind::Box { width, height } => {
                if lat_distance(lat, y1) > height * self.conversion / 2.0 {
                    return None;
                }
                if distance(lon, lat, x1, lat) > width * self.conversion / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, lon, lat))
            }
        }
    }

    /// `geohashBoundingBox`: [min lon, min lat, max lon, max lat].
    fn bounding_box(&self) -> [f64; 4] {
        let [lon, lat] = self.xy;
        let (half_h, half_w) = match self.kind {
            ShapeKind::Radius(r) => (self.conversion * r, self.conversion * r),
            ShapeKind::Box { width, height } => (self.conversion * (height / 2.0), self.conversion * (width / 2.0)),
        };
        let lat_delta = rad_deg(half_h / EARTH_RADIUS_IN_METERS);
        let long_delta_top = rad_deg(half_w / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
        let long_delta_bottom = rad_deg(half_w / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
        let long_delta = if lat < 0.0 { long_delta_bottom } else { long_delta_top };
        [lon - long_delta, lat - lat_delta, lon + long_delta, lat + lat_delta]
    }

    /// The radius of the circle enclosing the shape, in meters.
    fn radius_meters(&self) -> f64 {
        let r = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
        };
        r * self.conversion
    }
}

/// `geohashEstimateStepsByRadius`: the cell step whose 3x3 block should cover the radius.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// `geohashCalculateAreasByShapeWGS84`: the centre cell and its neighbours, in the order
/// Redis searches them (self, N, S, E, W, NE, NW, SE, SW); cells that cannot hold a match are
/// `HashBits::ZERO`.
fn areas_for_shape(shape: &Shape) -> [HashBits; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = shape.bounding_box();
    let [lon, lat] = shape.xy;
    let mut steps = estimate_steps(shape.radius_meters(), lat);
    let cells = |steps: u8| {
        let hash = encode(&WGS84, lon, lat, steps).unwrap_or(HashBits { bits: 0, step: steps });
        let n = [
            hash,
            moved(hash, 0, 1),
            moved(hash, 0, -1),
            moved(hash, 1, 0),
            moved(hash, -1, 0),
            moved(hash, 1, 1),
            moved(hash, -1, 1),
            moved(hash, 1, -1),
            moved(hash, -1, -1),
        ];
        (n, decode(&WGS84, hash))
    };
    let (mut n, mut area) = cells(steps);
    let extent = |h: HashBits| decode(&WGS84, h);
    let (north, south, east, west) = (extent(n[1]), extent(n[2]), extent(n[3]), extent(n[4]));
    // An undecodable (zero) cell leaves Redis's zero-initialized area: all bounds 0.
    let zero = Area { lon: Range { min: 0.0, max: 0.0 }, lat: Range { min: 0.0, max: 0.0 } };
    let decrease_step = north.unwrap_or(zero).lat.max < max_lat
        || south.unwrap_or(zero).lat.min > min_lat
        || east.unwrap_or(zero).lon.max < max_lon
        || west.unwrap_or(zero).lon.min > min_lon;
    if steps > 1 && decrease_step {
        steps -= 1;
        (n, area) = cells(steps);
    }
    if steps >= 2 {
        let area = area.unwrap_or(zero);
        let mut clear = |idx: [usize; 3]| idx.iter().for_each(|&i| n[i] = HashBits::ZERO);
        if area.lat.min < min_lat {
            clear([2, 8, 7]);
        }
        if area.lat.max > max_lat {
            clear([1, 5, 6]);
        }
        if area.lon.min < min_lon {
            clear([4, 8, 6]);
        }
        if area.lon.max > max_lon {
            clear([3, 7, 5]);
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Search (geo.c)
// ---------------------------------------------------------------------------------------------

/// One search result (`geoPoint`).
#[derive(Clone, Debug)]
struct GeoPoint {
    lon: f64,
    lat: f64,
    /// Meters while searching; in the query's unit once reported.
    dist: f64,
    score: f64,
    member: Vec<u8>,
}

/// `membersOfAllNeighbors`: the points of the set inside `shape`, in Redis's discovery order,
/// stopping once `limit` points are found (0 = no limit).
fn points_in_shape(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<GeoPoint> {
    let cells = areas_for_shape(shape);
    let mut found = Vec::new();
    let mut last_processed: Option<usize> = None;
    for (i, &cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Huge radii can make adjacent neighbours the same cell: search it once.
        if last_processed.is_some_and(|p| p != 0 && cells[p] == cell) {
            continue;
        }
        if limit != 0 && found.len() >= limit {
            break;
        }
        let min = cell.align52() as f64;
        let max = HashBits { bits: cell.bits + 1, step: cell.step }.align52() as f64;
        for (member, score) in z.iter_from(z.count_below_score(min, false)) {
            if score >= max {
                break;
            }
            let [lon, lat] = position_of(score);
            if let Some(dist) = shape.distance_if_inside(lon, lat) {
                found.push(GeoPoint { lon, lat, dist, score, member: member.to_vec() });
            }
            if limit != 0 && found.len() >= limit {
                break;
            }
        }
        last_processed = Some(i);
    }
    found
}

/// `sort_gp_asc`: C's three-way comparison of distances (NaN compares as "less").
fn cmp_asc(a: &GeoPoint, b: &GeoPoint) -> i32 {
    if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    }
}

fn cmp_desc(a: &GeoPoint, b: &GeoPoint) -> i32 {
    -cmp_asc(a, b)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// The command variant (`georadiusGeneric`'s flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS[_RO]: `key lon lat radius unit`.
    RadiusCoords { store: bool },
    /// GEORADIUSBYMEMBER[_RO]: `key member radius unit`.
    RadiusMember { store: bool },
    /// GEOSEARCH / GEOSEARCHSTORE.
    Search { store: bool },
}

impl Variant {
    fn accepts_store_key(self) -> bool {
        matches!(self, Variant::RadiusCoords { store: true } | Variant::RadiusMember { store: true })
    }
}

const NOT_DECODABLE: &str = "ERR could not decode requested zset member";

/// `extractLongLatOrReply`.
fn lon_lat(a: &[&[u8]]) -> Result<[f64; 2], Reply> {
    let lon = num::parse_f64(a[0]).ok_or_else(|| Reply::err(args::NOT_FLOAT))?;
    let lat = num::parse_f64(a[1]).ok_or_else(|| Reply::err(args::NOT_FLOAT))?;
    if !(GEO_LONG_MIN..=GEO_LONG_MAX).contains(&lon) || !(GEO_LAT_MIN..=GEO_LAT_MAX).contains(&lat) {
        return Err(Reply::err_owned(format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}")));
    }
    Ok([lon, lat])
}

/// `extractUnitOrReply`: meters per unit.
fn unit(arg: &[u8]) -> Result<f64, Reply> {
    if is(arg, "M") {
        Ok(1.0)
    } else if is(arg, "KM") {
        Ok(1000.0)
    } else if is(arg, "FT") {
        Ok(0.3048)
    } else if is(arg, "MI") {
        Ok(1609.34)
    } else {
        Err(Reply::err("ERR unsupported unit provided. please use M, KM, FT, MI"))
    }
}

fn number(arg: &[u8], err: &'static str) -> Result<f64, Reply> {
    num::parse_f64(arg).ok_or_else(|| Reply::err(err))
}

/// `extractDistanceOrReply`: `radius unit` -> (radius, meters per unit).
fn radius_arg(a: &[&[u8]]) -> Result<(f64, f64), Reply> {
    let r = number(a[0], "ERR need numeric radius")?;
    if r < 0.0 {
        return Err(Reply::err("ERR radius cannot be negative"));
    }
    Ok((r, unit(a[1])?))
}

/// `extractBoxOrReply`: `width height unit` -> (width, height, meters per unit).
fn box_arg(a: &[&[u8]]) -> Result<(f64, f64, f64), Reply> {
    let w = number(a[0], "ERR need numeric width")?;
    let h = number(a[1], "ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err(Reply::err("ERR height or width cannot be negative"));
    }
    Ok((w, h, unit(a[2])?))
}

/// A member's position, or Redis's "could not decode" error when it is not in the set.
fn member_position(z: &ZSetValue, member: &[u8]) -> Result<[f64; 2], Reply> {
    z.score(member).map(position_of).ok_or_else(|| Reply::err(NOT_DECODABLE))
}

/// Everything a search needs once its arguments are parsed.
struct Query<'a> {
    shape: Shape,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    /// 0 = no COUNT.
    count: usize,
    store: Option<&'a [u8]>,
    storedist: bool,
}

/// Parse a search's arguments in Redis's order, reading the source set (`z`) for member
/// centres. `Ok(None)` with a missing source set means "reply empty / store nothing".
fn parse_query<'a>(z: Option<&ZSetValue>, a: &[&'a [u8]], variant: Variant) -> Result<Query<'a>, Reply> {
    let mut shape = Shape { xy: [0.0, 0.0], conversion: 0.0, kind: ShapeKind::Radius(0.0) };
    let mut store = None;
    let base = match variant {
        Variant::RadiusCoords { .. } => {
            shape.xy = lon_lat(&a[2..4])?;
            let (r, conv) = radius_arg(&a[4..6])?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conv);
            6
        }
        Variant::RadiusMember { .. } => {
            // Without a source set the member and radius are not looked at.
            if let Some(z) = z {
                shape.xy = member_position(z, a[2])?;
                let (r, conv) = radius_arg(&a[3..5])?;
                (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conv);
            }
            5
        }
        Variant::Search { store: true } => {
            store = Some(a[1]);
            3
        }
        Variant::Search { store: false } => 2,
    };
    let search = matches!(variant, Variant::Search { .. });
    let mut q = Query {
        shape,
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
        store,
        storedist: false,
    };
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let rest = &a[base..];
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i];
        let left = rest.len() - i - 1;
        if is(arg, "WITHDIST") {
            q.withdist = true;
        } else if is(arg, "WITHHASH") {
            q.withhash = true;
        } else if is(arg, "WITHCOORD") {
            q.withcoord = true;
        } else if is(arg, "ANY") {
            q.any = true;
        } else if is(arg, "ASC") {
            q.sort = Sort::Asc;
        } else if is(arg, "DESC") {
            q.sort = Sort::Desc;
        } else if is(arg, "COUNT") && left >= 1 {
            let n = args::int(rest[i + 1])?;
            if n <= 0 {
                return Err(Reply::err("ERR COUNT must be > 0"));
            }
            q.count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 1;
        } else if is(arg, "STORE") && left >= 1 && variant.accepts_store_key() {
            q.store = Some(rest[i + 1]);
            q.storedist = false;
            i += 1;
        } else if is(arg, "STOREDIST") && left >= 1 && variant.accepts_store_key() {
            q.store = Some(rest[i + 1]);
            q.storedist = true;
            i += 1;
        } else if is(arg, "STOREDIST") && variant == (Variant::Search { store: true }) {
            q.storedist = true;
        } else if is(arg, "FROMMEMBER") && left >= 1 && search && !fromloc {
            if let Some(z) = z {
                q.shape.xy = member_position(z, rest[i + 1])?;
            }
            frommember = true;
            i += 1;
        } else if is(arg, "FROMLONLAT") && left >= 2 && search && !frommember {
            q.shape.xy = lon_lat(&rest[i + 1..i + 3])?;
            fromloc = true;
            i += 2;
        } else if is(arg, "BYRADIUS") && left >= 2 && search && !bybox {
            let (r, conv) = radius_arg(&rest[i + 1..i + 3])?;
            (q.shape.kind, q.shape.conversion) = (ShapeKind::Radius(r), conv);
            byradius = true;
            i += 2;
        } else if is(arg, "BYBOX") && left >= 3 && search && !byradius {
            let (width, height, conv) = box_arg(&rest[i + 1..i + 4])?;
            (q.shape.kind, q.shape.conversion) = (ShapeKind::Box { width, height }, conv);
            bybox = true;
            i += 3;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if q.store.is_some() && (q.withdist || q.withhash || q.withcoord) {
        let what = if variant == (Variant::Search { store: true }) { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(Reply::err_owned(format!("ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")));
    }
    let name = || String::from_utf8_lossy(a[0]).into_owned();
    if search && !(frommember || fromloc) {
        return Err(Reply::err_owned(format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}", name())));
    }
    if search && !(byradius || bybox) {
        return Err(Reply::err_owned(format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {}", name())));
    }
    if q.any && q.count == 0 {
        return Err(Reply::err("ERR the ANY argument requires COUNT argument"));
    }
    Ok(q)
}

/// The points a parsed query returns or stores, sorted and cut to COUNT, distances in the
/// query's unit.
fn run_query(z: &ZSetValue, q: &Query<'_>) -> Vec<GeoPoint> {
    // COUNT without an order means the closest ones (but ANY takes whatever it found first).
    let sort = if q.count != 0 && q.sort == Sort::None && !q.any { Sort::Asc } else { q.sort };
    let mut points = points_in_shape(z, &q.shape, if q.any { q.count } else { 0 });
    let returned = if q.count == 0 { points.len() } else { points.len().min(q.count) };
    if sort != Sort::None {
        let cmp = if sort == Sort::Asc { cmp_asc } else { cmp_desc };
        if returned == points.len() {
            glibc_qsort(&mut points, &cmp);
        } else {
            pqsort(&mut points, &cmp, 0, returned - 1);
        }
    }
    points.truncate(returned);
    for p in &mut points {
        p.dist /= q.shape.conversion;
    }
    points
}

/// `addReplyHumanLongDouble` in RESP3: a double whose text is `%.17Lf`, trimmed.
fn human_double(v: f64) -> Reply {
    let text = LongDouble::from_f64(v).to_human_string();
    Reply::Double(text.parse().unwrap_or(v))
}

/// `addReplyDoubleDistance`: `%.4f` as a bulk string (glibc prints NaN as "nan" / "-nan").
fn distance_reply(d: f64) -> Reply {
    if d.is_nan() {
        return Reply::bulk(if d.is_sign_negative() { &b"-nan"[..] } else { &b"nan"[..] });
    }
    Reply::Bulk(format!("{d:.4}").into_bytes())
}

fn point_reply(p: GeoPoint, q: &Query<'_>) -> Reply {
    if !(q.withdist || q.withhash || q.withcoord) {
        return Reply::Bulk(p.member);
    }
    let mut item = vec![Reply::Bulk(p.member)];
    if q.withdist {
        item.push(distance_reply(p.dist));
    }
    if q.withhash {
        item.push(Reply::Int(p.score as i64));
    }
    if q.withcoord {
        item.push(Reply::Array(vec![human_double(p.lon), human_double(p.lat)]));
    }
    Reply::Array(item)
}

/// Replace `dst` with the results as a sorted set (or delete it when there are none) and reply
/// their number.
fn store_points(ctx: &mut Ctx<'_>, dst: &[u8], points: Vec<GeoPoint>, storedist: bool) -> Reply {
    let n = points.len();
    if n == 0 {
        ctx.remove(dst);
        return Reply::Int(0);
    }
    let mut seen = std::collections::HashSet::new();
    // Redis asserts on a duplicate member or a NaN score here; neither comes from a search.
    let entries: Vec<(Vec<u8>, f64)> = points
        .into_iter()
        .map(|p| {
            let score = if storedist { p.dist } else { p.score };
            (p.member, score)
        })
        .filter(|(m, s)| !s.is_nan() && seen.insert(m.clone()))
        .collect();
    let z = ZSetValue::from_entries(entries, &ctx.limits());
    ctx.insert(dst, Value::ZSet(z), 0);
    Reply::Int(n as i64)
}

/// `georadiusGeneric`: every search command.
fn search_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], variant: Variant) -> CmdResult {
    let src = if matches!(variant, Variant::Search { store: true }) { a[2] } else { a[1] };
    let (q, points) = {
        let z = ctx.read::<ZSetValue>(src)?;
        let q = parse_query(z.as_deref(), a, variant)?;
        let points = z.map(|z| run_query(&z, &q));
        (q, points)
    };
    match (points, q.store) {
        (None, None) => Ok(Reply::Array(Vec::new())),
        (Some(points), None) => Ok(Reply::Array(points.into_iter().map(|p| point_reply(p, &q)).collect())),
        (points, Some(dst)) => Ok(store_points(ctx, dst, points.unwrap_or_default(), q.storedist)),
    }
}

fn geosearch(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    search_generic(ctx, a, Variant::Search { store: false })
}

fn geosearchstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    search_generic(ctx, a, Variant::Search { store: true })
}

fn georadius(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    search_generic(ctx, a, Variant::RadiusCoords { store: true })
}

fn georadius_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    search_generic(ctx, a, Variant::RadiusCoords { store: false })
}

fn georadiusbymember(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    search_generic(ctx, a, Variant::RadiusMember { store: true })
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    search_generic(ctx, a, Variant::RadiusMember { store: false })
}

// ---------------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] lon lat member [lon lat member ...]: ZADD with geohash scores.
fn geoadd(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut idx = 2;
    while idx < a.len() {
        if is(a[idx], "NX") {
            nx = true;
        } else if is(a[idx], "XX") {
            xx = true;
        } else if is(a[idx], "CH") {
            ch = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = &a[idx..];
    // No triple at all is ZADD's syntax error (GEOADD hands ZADD an empty list).
    if !rest.len().is_multiple_of(3) || (xx && nx) || rest.is_empty() {
        return Err(syntax());
    }
    let items = rest
        .chunks(3)
        .map(|t| lon_lat(t).map(|[lon, lat]| (score_of(lon, lat) as f64, t[2])))
        .collect::<Result<Vec<(f64, &[u8])>, Reply>>()?;
    let limits = ctx.limits();
    let counts = ctx.modify::<ZSetValue, _>(key, !xx, |z| {
        let (mut added, mut updated) = (0i64, 0i64);
        for &(score, member) in &items {
            match z.score(member) {
                Some(cur) if !nx && cur != score => {
                    z.insert(member, score, &limits);
                    updated += 1;
                }
                Some(_) => {}
                None if !xx => {
                    z.insert(member, score, &limits);
                    added += 1;
                }
                None => {}
            }
        }
        (added, updated)
    })?;
    let (added, updated) = counts.unwrap_or((0, 0));
    if added + updated > 0 {
        ctx.modified(key);
    }
    Ok(Reply::Int(if ch { added + updated } else { added }))
}

/// GEODIST key member1 member2 [unit]
fn geodist(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let to_meters = match a.len() {
        5 => unit(a[4])?,
        4 => 1.0,
        _ => return Err(syntax()),
    };
    let Some(z) = ctx.read::<ZSetValue>(a[1])? else { return Ok(Reply::Nil) };
    let (Some(s1), Some(s2)) = (z.score(a[2]), z.score(a[3])) else { return Ok(Reply::Nil) };
    let ([lon1, lat1], [lon2, lat2]) = (position_of(s1), position_of(s2));
    Ok(distance_reply(distance(lon1, lat1, lon2, lat2) / to_meters))
}

/// GEOHASH key member...: 11-character geohashes, nil for missing members.
fn geohash(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let z = ctx.read::<ZSetValue>(a[1])?;
    let hash = |m: &[u8]| {
        let [lon, lat] = position_of(z.as_ref()?.score(m)?);
        Some(Reply::Bulk(standard_geohash(lon, lat).to_vec()))
    };
    Ok(Reply::Array(a[2..].iter().map(|m| hash(m).unwrap_or(Reply::Nil)).collect()))
}

/// GEOPOS key member...: `[lon, lat]` per member, nil for missing ones.
fn geopos(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let z = ctx.read::<ZSetValue>(a[1])?;
    let pos = |m: &[u8]| {
        let [lon, lat] = position_of(z.as_ref()?.score(m)?);
        Some(Reply::Array(vec![human_double(lon), human_double(lat)]))
    };
    Ok(Reply::Array(a[2..].iter().map(|m| pos(m).unwrap_or(Reply::Nil)).collect()))
}

/// A geo reply as RESP2 (scripts) carries it: coordinates as bulk strings of their text.
pub(crate) fn coords_as_bulk(reply: Reply) -> Reply {
    match reply {
        Reply::Double(v) => Reply::Bulk(LongDouble::from_f64(v).to_human_string().into_bytes()),
        Reply::Array(items) => Reply::Array(items.into_iter().map(coords_as_bulk).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::testutil::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [(0u32, 0u32), (1, 0), (0, 1), (0x3ff_ffff, 0x155_5555), (u32::MAX, 0), (0xdead_beef, 0x1234_5678)] {
            let v = interleave64(x, y);
            assert_eq!(deinterleave64(v), u64::from(x) | (u64::from(y) << 32));
        }
        assert_eq!(interleave64(1, 0), 1);
        assert_eq!(interleave64(0, 1), 2);
    }

    #[test]
    fn encode_decode_round_trip_within_a_cell() {
        for &(lon, lat) in &[(13.361389, 38.115556), (-180.0, -85.05112878), (180.0, 85.05112878), (0.0, 0.0), (-0.1, 51.5)] {
            let h = encode(&WGS84, lon, lat, GEO_STEP_MAX).unwrap();
            let area = decode(&WGS84, h).unwrap();
            let [dlon, dlat] = area_center(&area);
            assert!((dlon - lon).abs() < 1e-5 && (dlat - lat).abs() < 1e-5, "{lon},{lat} -> {dlon},{dlat}");
            assert_eq!(score_of(dlon, dlat), h.align52(), "a decoded position encodes to its own cell");
        }
        // Redis's own numbers (redis-server 7.0.15).
        assert_eq!(score_of(13.361389, 38.115556), 3479099956230698);
        let [lon, lat] = position_of(3479099956230698.0);
        assert_eq!(LongDouble::from_f64(lon).to_human_string(), "13.36138933897018433");
        assert_eq!(LongDouble::from_f64(lat).to_human_string(), "38.11555639549629859");
        assert!(encode(&WGS84, 180.1, 0.0, 26).is_none());
    }

    #[test]
    fn scores_that_are_no_geohash_decode_like_redis() {
        // C's (uint64_t) conversion on x86-64, then clamping to the valid ranges.
        assert_eq!(c_u64(-5.0), u64::MAX - 4);
        assert_eq!(c_u64(f64::INFINITY), 0);
        assert_eq!(c_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_u64(1e19), 10_000_000_000_000_000_000);
        assert_eq!(position_of(1e18), [180.0, GEO_LAT_MAX]);
        assert_eq!(position_of(f64::NEG_INFINITY)[0], 180.0);
    }

    #[test]
    fn standard_base32_geohash() {
        let [lon, lat] = position_of(3479099956230698.0);
        assert_eq!(&standard_geohash(lon, lat), b"sqc8b49rny0");
        let [lon, lat] = position_of(3479447370796909.0);
        assert_eq!(&standard_geohash(lon, lat), b"sqdtr74hyu0");
        assert_eq!(&standard_geohash(180.0, GEO_LAT_MAX), b"bp05b5048p0");
    }

    #[test]
    fn haversine_matches_redis() {
        let [lon1, lat1] = position_of(3479099956230698.0);
        let [lon2, lat2] = position_of(3479447370796909.0);
        assert_eq!(format!("{:.4}", distance(lon1, lat1, lon2, lat2)), "166274.1516");
        assert_eq!(distance(1.0, 2.0, 1.0, 2.0), 0.0);
    }

    #[test]
    fn steps_and_neighbours() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1.0, 0.0), 24);
        assert_eq!(estimate_steps(1.0, 70.0), 23);
        assert_eq!(estimate_steps(1.0, -85.0), 22);
        assert_eq!(estimate_steps(2e7, 0.0), 1);
        let h = encode(&WGS84, 10.0, 10.0, 5).unwrap();
        let east = moved(h, 1, 0);
        assert_eq!(moved(east, -1, 0), h);
        let north = moved(h, 0, 1);
        assert_eq!(moved(north, 0, -1), h);
        let (a, b) = (decode(&WGS84, h).unwrap(), decode(&WGS84, east).unwrap());
        assert_eq!(a.lon.max, b.lon.min);
    }

    #[test]
    fn partial_sort_sorts_the_wanted_range() {
        let cmp = |a: &i32, b: &i32| a.cmp(b) as i32;
        for n in [0usize, 1, 5, 7, 8, 40, 41, 200] {
            let base: Vec<i32> = (0..n as i32).map(|i| (i * 7919) % 101).collect();
            let mut sorted = base.clone();
            sorted.sort();
            for k in 1..=n {
                let mut v = base.clone();
                pqsort(&mut v, &cmp, 0, k - 1);
                assert_eq!(v[..k], sorted[..k], "n={n} k={k}");
            }
            let mut v = base.clone();
            glibc_qsort(&mut v, &cmp);
            assert_eq!(v, sorted);
        }
    }

    #[test]
    fn commands_basic() {
        let db = crate::Db::open_in_memory();
        let w = |line: &str| run(&db, &line.split(' ').collect::<Vec<_>>());
        assert_eq!(w("GEOADD k 13.361389 38.115556 Palermo 15.087269 37.502669 Catania"), int(2));
        assert_eq!(w("GEODIST k Palermo Catania km"), bulk("166.2742"));
        assert_eq!(w("GEODIST k Palermo nope"), Reply::Nil);
        assert_eq!(w("GEOHASH k Palermo nope"), Reply::Array(vec![bulk("sqc8b49rny0"), Reply::Nil]));
        assert_eq!(w("GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 100 km"), Reply::Array(vec![bulk("Catania")]));
        assert_eq!(w("GEOADD k 200 100 x"), Reply::err("ERR invalid longitude,latitude pair 200.000000,100.000000"));
        assert_eq!(w("GEOADD k NX XX 1 2 x"), Reply::err(args::SYNTAX));
        assert_eq!(w("GEOADD k XX CH 15 37 Catania 1 1 new"), int(1));
        assert_eq!(w("TYPE k"), Reply::Status("zset".into()));
        assert_eq!(w("GEORADIUS k 15 37 200 km STOREDIST d"), int(2));
        assert_eq!(w("ZCARD d"), int(2));
    }
}
