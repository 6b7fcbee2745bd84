//! Small pure helpers: Redis number parsing/formatting, glob matching, RESP command encoding.

pub(crate) mod glob;
pub(crate) mod ldouble;
pub(crate) mod num;
pub(crate) mod resp;
