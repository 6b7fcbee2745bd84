"""Type aliases used in nestdb's signatures (the same names as ``redis.typing``)."""

from __future__ import annotations

from datetime import datetime, timedelta
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple, TypedDict, Union

Number = Union[int, float]
EncodedT = Union[bytes, bytearray, memoryview]
DecodedT = Union[str, int, float]
EncodableT = Union[EncodedT, DecodedT]
AbsExpiryT = Union[int, datetime]
ExpiryT = Union[int, timedelta]
ZScoreBoundT = Union[float, str]
_StringLikeT = Union[bytes, str, memoryview]
KeyT = _StringLikeT
PatternT = _StringLikeT
FieldT = EncodableT
KeysT = Union[KeyT, Iterable[KeyT]]
AnyKeyT = Union[bytes, str, memoryview]
ResponseT = Any
TimeoutSecT = Union[int, float, _StringLikeT]
BitfieldOffsetT = Union[int, str]

_Bytes = Union[bytes, str]
ScanResponse = Tuple[int, List[_Bytes]]
HScanResponse = Tuple[int, Union[Dict[_Bytes, _Bytes], List[_Bytes]]]
ZScanResponse = Tuple[int, List[Tuple[_Bytes, Any]]]
ZSetRangeResponse = Union[List[_Bytes], List[Tuple[_Bytes, Any]], Any]
ZRandMemberResponse = Union[_Bytes, List[_Bytes], None]
ZMPopResponse = Optional[List[Any]]
HRandFieldResponse = Union[_Bytes, List[_Bytes], None]
ListMultiPopResponse = Optional[List[Union[_Bytes, List[_Bytes]]]]
BlockingListPopResponse = Union[Tuple[_Bytes, _Bytes], List[_Bytes], None]
BlockingZSetPopResponse = Union[Tuple[_Bytes, _Bytes, float], None]

PathT = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class RepairReport(TypedDict):
    """What ``nestdb.repair(path)`` did."""

    truncated_file: Optional[str]
    """The log file that was truncated, or None."""
    truncated_at: int
    """The offset it was truncated at."""
    bytes_dropped: int
    """Bytes removed from the log (the damaged tail and any segments after it)."""
    segments_removed: int
    """Log segments deleted because they followed the damage."""
    manifest_rebuilt: bool
    """MANIFEST was missing or damaged and was rebuilt from the newest valid snapshot."""
