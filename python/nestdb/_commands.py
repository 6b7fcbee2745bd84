# mypy: ignore-errors
# (Bodies ported from redis-py keep its loose typing; the signatures are what users see.)
"""redis-py's command methods for the commands nestdb implements.

Ported from redis-py 8.1.0 (``redis/commands/core.py``, MIT licence, Copyright (c) 2022-2023,
Redis, inc.) by ``tools/port_redis_py.py`` and maintained here since. Each method builds the
arguments exactly as redis-py does and hands them to ``execute_command``, which nestdb runs
natively: it encodes the arguments, runs the command in the engine and shapes the reply with
redis-py's response callback for that command.

The hottest methods (``get``, ``set``, ``hget``, ``sadd``...) are also implemented natively
on ``nestdb._nestdb.Client``, which precedes this mixin in ``Redis``'s MRO; the versions here
remain the reference for them (the native fast paths call them for unusual arguments, and the
test suite checks that both agree).
"""

from __future__ import annotations

import datetime
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Literal, Mapping, Optional, Sequence, Tuple, Union

from .exceptions import DataError
from .typing import (
    AbsExpiryT,
    AnyKeyT,
    BitfieldOffsetT,
    BlockingListPopResponse,
    BlockingZSetPopResponse,
    EncodableT,
    ExpiryT,
    FieldT,
    HRandFieldResponse,
    HScanResponse,
    KeysT,
    KeyT,
    ListMultiPopResponse,
    Number,
    PatternT,
    ResponseT,
    ScanResponse,
    TimeoutSecT,
    ZMPopResponse,
    ZRandMemberResponse,
    ZScanResponse,
    ZScoreBoundT,
    ZSetRangeResponse,
)

# Stream type aliases (the names and meanings of ``redis.typing``'s).
GroupT = KeyT  # a consumer group's name
ConsumerT = KeyT  # a consumer's name
StreamIdT = Union[int, KeyT]
StreamEntry = Tuple[Union[bytes, str, None], Optional[Dict[Union[bytes, str], Union[bytes, str]]]]
StreamRangeResponse = List[StreamEntry]
XClaimResponse = Union[StreamRangeResponse, List[Union[bytes, str]]]
XPendingRangeResponse = List[Dict[str, Union[bytes, str, int]]]
XReadResponse = Union[List[List[Any]], Dict[Union[bytes, str], Any]]
XReadGroupResponse = XReadResponse

# Geo type aliases (``redis.typing``'s).
GeoCoordinate = Union[Tuple[float, float], List[float]]
GeoSearchItem = Union[bytes, str, List[Union[bytes, str, float, int, GeoCoordinate]]]
GeoSearchResponse = List[GeoSearchItem]
GeoRadiusResponse = Union[GeoSearchResponse, int]

# Options of ``execute_command`` understood by the native layer (redis-py's names).
EMPTY_RESPONSE = "EMPTY_RESPONSE"
NEVER_DECODE = "NEVER_DECODE"


def list_or_args(keys: Any, args: Optional[Iterable[Any]]) -> List[Any]:
    """A single key (str/bytes-like) or an iterable of keys, plus ``args``, as one list."""
    try:
        iter(keys)
        if isinstance(keys, (bytes, str, bytearray, memoryview)):
            keys = [keys]
        else:
            keys = list(keys)
    except TypeError:
        keys = [keys]
    if args:
        keys.extend(args)
    return keys


def at_most_one_value_set(iterable: Iterable[Any]) -> bool:
    return sum(bool(x) for x in iterable) <= 1


def extract_expire_flags(
    ex: Optional[ExpiryT] = None,
    px: Optional[ExpiryT] = None,
    exat: Optional[AbsExpiryT] = None,
    pxat: Optional[AbsExpiryT] = None,
) -> List[EncodableT]:
    exp_options: List[EncodableT] = []
    if ex is not None:
        exp_options.append("EX")
        if isinstance(ex, datetime.timedelta):
            exp_options.append(int(ex.total_seconds()))
        elif isinstance(ex, int):
            exp_options.append(ex)
        elif isinstance(ex, str) and ex.isdigit():
            exp_options.append(int(ex))
        else:
            raise DataError("ex must be datetime.timedelta or int")
    elif px is not None:
        exp_options.append("PX")
        if isinstance(px, datetime.timedelta):
            exp_options.append(int(px.total_seconds() * 1000))
        elif isinstance(px, int):
            exp_options.append(px)
        else:
            raise DataError("px must be datetime.timedelta or int")
    elif exat is not None:
        if isinstance(exat, datetime.datetime):
            exat = int(exat.timestamp())
        exp_options.extend(["EXAT", exat])
    elif pxat is not None:
        if isinstance(pxat, datetime.datetime):
            pxat = int(pxat.timestamp() * 1000)
        exp_options.extend(["PXAT", pxat])
    return exp_options


class CommandsMixin:
    """The redis-py command methods, on top of ``execute_command``."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run a command; provided natively by ``nestdb._nestdb.Client`` (first in the MRO)."""
        raise TypeError("CommandsMixin needs nestdb._nestdb.Client before it in the MRO")

    # --- redis-py ManagementCommands ---

    def bgrewriteaof(self, **kwargs) -> bool | bytes | str:
        """Tell the Redis server to rewrite the AOF file from data in memory."""
        return self.execute_command('BGREWRITEAOF', **kwargs)

    def bgsave(self, schedule: bool=True, **kwargs) -> bool | bytes | str:
        """Tell the Redis server to save its data to disk.  Unlike save(),
        this method is asynchronous and returns immediately."""
        pieces = []
        if schedule:
            pieces.append('SCHEDULE')
        return self.execute_command('BGSAVE', *pieces, **kwargs)

    def command(self, **kwargs) -> dict[str, dict[str, Any]]:
        """Returns dict reply of details about all Redis commands."""
        return self.execute_command('COMMAND', **kwargs)

    def command_count(self, **kwargs) -> int:
        return self.execute_command('COMMAND COUNT', **kwargs)

    def command_list(self, module: str | None=None, category: str | None=None, pattern: str | None=None) -> list[bytes | str]:
        """Return an array of the server's command names.
        You can use one of the following filters:
        ``module``: get the commands that belong to the module
        ``category``: get the commands in the ACL category
        ``pattern``: get the commands that match the given pattern"""
        pieces = []
        if module is not None:
            pieces.extend(['MODULE', module])
        if category is not None:
            pieces.extend(['ACLCAT', category])
        if pattern is not None:
            pieces.extend(['PATTERN', pattern])
        if pieces:
            pieces.insert(0, 'FILTERBY')
        return self.execute_command('COMMAND LIST', *pieces)

    def config_get(self, pattern: PatternT='*', *args: PatternT, **kwargs) -> dict[str | None, str | None]:
        """Return a dictionary of configuration based on the ``pattern``"""
        return self.execute_command('CONFIG GET', pattern, *args, **kwargs)

    def config_set(self, name: KeyT, value: EncodableT, *args: Union[KeyT, EncodableT], **kwargs) -> bool:
        """Set config item ``name`` with ``value``"""
        return self.execute_command('CONFIG SET', name, value, *args, **kwargs)

    def config_resetstat(self, **kwargs) -> bool:
        """Reset runtime statistics"""
        return self.execute_command('CONFIG RESETSTAT', **kwargs)

    def dbsize(self, **kwargs) -> int:
        """Returns the number of keys in the current database"""
        return self.execute_command('DBSIZE', **kwargs)

    def echo(self, value: EncodableT, **kwargs) -> bytes | str:
        """Echo the string back from the server"""
        return self.execute_command('ECHO', value, **kwargs)

    def flushall(self, asynchronous: bool=False, **kwargs) -> bool:
        """Delete all keys in all databases on the current host."""
        args = []
        if asynchronous:
            args.append(b'ASYNC')
        return self.execute_command('FLUSHALL', *args, **kwargs)

    def flushdb(self, asynchronous: bool=False, **kwargs) -> bool:
        """Delete all keys in the current database."""
        args = []
        if asynchronous:
            args.append(b'ASYNC')
        return self.execute_command('FLUSHDB', *args, **kwargs)

    def select(self, index: int, **kwargs) -> bool:
        """Select the Redis logical database at index."""
        return self.execute_command('SELECT', index, **kwargs)

    def info(self, section: Optional[str]=None, *args: str, **kwargs) -> dict[str, Any]:
        """Returns a dictionary containing information about the Redis server"""
        if section is None:
            return self.execute_command('INFO', **kwargs)
        else:
            return self.execute_command('INFO', section, *args, **kwargs)

    def lastsave(self, **kwargs) -> datetime.datetime | None:
        """Return a Python datetime object representing the last time the
        Redis database was saved to disk (None if it never was)"""
        return self.execute_command('LASTSAVE', **kwargs)

    def ping(self, **kwargs) -> bool:
        """Ping the Redis server to test connectivity."""
        return self.execute_command('PING', **kwargs)

    def save(self, **kwargs) -> bool:
        """Tell the Redis server to save its data to disk,
        blocking until the save is complete"""
        return self.execute_command('SAVE', **kwargs)

    def time(self, **kwargs) -> tuple[int, int]:
        """Returns the server time as a 2-item tuple of ints:
        (seconds since epoch, microseconds into this second)."""
        return self.execute_command('TIME', **kwargs)

    def object(self, infotype: str, key: KeyT, **kwargs) -> Any:
        """Return the encoding, idletime, or refcount about the key"""
        return self.execute_command('OBJECT', infotype, key, infotype=infotype, **kwargs)

    def memory_doctor(self, **kwargs) -> None:
        raise NotImplementedError('\n            MEMORY DOCTOR is intentionally not implemented in the client.\n\n            For more information, see https://redis.io/commands/memory-doctor\n            ')

    def memory_help(self, **kwargs) -> None:
        raise NotImplementedError('\n            MEMORY HELP is intentionally not implemented in the client.\n\n            For more information, see https://redis.io/commands/memory-help\n            ')

    def memory_stats(self, **kwargs) -> dict[str, Any]:
        """Return a dictionary of memory stats"""
        return self.execute_command('MEMORY STATS', **kwargs)

    def memory_malloc_stats(self, **kwargs) -> bytes | str:
        """Return an internal statistics report from the memory allocator."""
        return self.execute_command('MEMORY MALLOC-STATS', **kwargs)

    def memory_usage(self, key: KeyT, samples: int | None=None, **kwargs) -> int | None:
        """Return the total memory usage for key, its value and associated
        administrative overheads.

        For nested data structures, ``samples`` is the number of elements to
        sample. If left unspecified, the server's default is 5. Use 0 to sample
        all elements."""
        args = []
        if isinstance(samples, int):
            args.extend([b'SAMPLES', samples])
        return self.execute_command('MEMORY USAGE', key, *args, **kwargs)

    def memory_purge(self, **kwargs) -> bool:
        """Attempts to purge dirty pages for reclamation by allocator"""
        return self.execute_command('MEMORY PURGE', **kwargs)

    # --- redis-py BasicKeyCommands ---

    def append(self, key: KeyT, value: EncodableT) -> int:
        """Appends the string ``value`` to the value at ``key``. If ``key``
        doesn't already exist, create it with a value of ``value``.
        Returns the new length of the value at ``key``."""
        return self.execute_command('APPEND', key, value)

    def bitcount(self, key: KeyT, start: int | None=None, end: int | None=None, mode: str | None=None) -> int:
        """Returns the count of set bits in the value of ``key``.  Optional
        ``start`` and ``end`` parameters indicate which bytes to consider"""
        params = [key]
        if start is not None and end is not None:
            params.append(start)
            params.append(end)
        elif (start is not None and end is None) or (end is not None and start is None):
            raise DataError('Both start and end must be specified')
        if mode is not None:
            params.append(mode)
        return self.execute_command('BITCOUNT', *params, keys=[key])

    def bitfield(self, key: KeyT, default_overflow: str | None=None) -> BitFieldOperation:
        """Return a BitFieldOperation instance to conveniently construct one or
        more bitfield operations on ``key``."""
        return BitFieldOperation(self, key, default_overflow=default_overflow)

    def bitfield_ro(self, key: KeyT, encoding: str, offset: BitfieldOffsetT, items: list[tuple[str, BitfieldOffsetT]] | None=None) -> list[int]:
        """Return an array of the specified bitfield values
        where the first value is found using ``encoding`` and ``offset``
        parameters and remaining values are result of corresponding
        encoding/offset pairs in optional list ``items``
        Read-only variant of the BITFIELD command."""
        params = [key, 'GET', encoding, offset]
        items = items or []
        for encoding, offset in items:
            params.extend(['GET', encoding, offset])
        return self.execute_command('BITFIELD_RO', *params, keys=[key])

    def bitop(self, operation: str, dest: KeyT, *keys: KeyT) -> int:
        """Perform a bitwise operation using ``operation`` between ``keys`` and
        store the result in ``dest``."""
        return self.execute_command('BITOP', operation, dest, *keys)

    def bitpos(self, key: KeyT, bit: int, start: int | None=None, end: int | None=None, mode: str | None=None) -> int:
        """Return the position of the first bit set to 1 or 0 in a string.
        ``start`` and ``end`` defines search range. The range is interpreted
        as a range of bytes and not a range of bits, so start=0 and end=2
        means to look at the first three bytes."""
        if bit not in (0, 1):
            raise DataError('bit must be 0 or 1')
        params = [key, bit]
        start is not None and params.append(start)
        if start is not None and end is not None:
            params.append(end)
        elif start is None and end is not None:
            raise DataError('start argument is not set, when end is specified')
        if mode is not None:
            params.append(mode)
        return self.execute_command('BITPOS', *params, keys=[key])

    def copy(self, source: str, destination: str, destination_db: str | None=None, replace: bool=False) -> bool:
        """Copy the value stored in the ``source`` key to the ``destination`` key."""
        params = [source, destination]
        if destination_db is not None:
            params.extend(['DB', destination_db])
        if replace:
            params.append('REPLACE')
        return self.execute_command('COPY', *params)

    def decrby(self, name: KeyT, amount: int=1) -> int:
        """Decrements the value of ``key`` by ``amount``.  If no key exists,
        the value will be initialized as 0 - ``amount``"""
        return self.execute_command('DECRBY', name, amount)
    decr = decrby

    def delete(self, *names: KeyT) -> int:
        """Delete one or more keys specified by ``names``"""
        return self.execute_command('DEL', *names)

    def __delitem__(self, name: KeyT):
        self.delete(name)

    def exists(self, *names: KeyT) -> int:
        """Returns the number of ``names`` that exist"""
        return self.execute_command('EXISTS', *names, keys=names)
    __contains__ = exists

    def expire(self, name: KeyT, time: ExpiryT, nx: bool=False, xx: bool=False, gt: bool=False, lt: bool=False) -> bool:
        """Set an expire flag on key ``name`` for ``time`` seconds with given
        ``option``. ``time`` can be represented by an integer or a Python timedelta
        object."""
        if isinstance(time, datetime.timedelta):
            time = int(time.total_seconds())
        exp_option = list()
        if nx:
            exp_option.append('NX')
        if xx:
            exp_option.append('XX')
        if gt:
            exp_option.append('GT')
        if lt:
            exp_option.append('LT')
        return self.execute_command('EXPIRE', name, time, *exp_option)

    def expireat(self, name: KeyT, when: AbsExpiryT, nx: bool=False, xx: bool=False, gt: bool=False, lt: bool=False) -> bool:
        """Set an expire flag on key ``name`` with given ``option``. ``when``
        can be represented as an integer indicating unix time or a Python
        datetime object."""
        if isinstance(when, datetime.datetime):
            when = int(when.timestamp())
        exp_option = list()
        if nx:
            exp_option.append('NX')
        if xx:
            exp_option.append('XX')
        if gt:
            exp_option.append('GT')
        if lt:
            exp_option.append('LT')
        return self.execute_command('EXPIREAT', name, when, *exp_option)

    def expiretime(self, key: str) -> int:
        """Returns the absolute Unix timestamp (since January 1, 1970) in seconds
        at which the given key will expire."""
        return self.execute_command('EXPIRETIME', key)

    def get(self, name: KeyT) -> bytes | str | None:
        """Return the value at key ``name``, or None if the key doesn't exist"""
        return self.execute_command('GET', name, keys=[name])

    def getdel(self, name: KeyT) -> bytes | str | None:
        """Get the value at key ``name`` and delete the key. This command
        is similar to GET, except for the fact that it also deletes
        the key on success (if and only if the key's value type
        is a string)."""
        return self.execute_command('GETDEL', name)

    def getex(self, name: KeyT, ex: ExpiryT | None=None, px: ExpiryT | None=None, exat: AbsExpiryT | None=None, pxat: AbsExpiryT | None=None, persist: bool=False) -> bytes | str | None:
        """Get the value of key and optionally set its expiration.
        GETEX is similar to GET, but is a write command with
        additional options. All time parameters can be given as
        datetime.timedelta or integers."""
        if not at_most_one_value_set((ex is not None, px is not None, exat is not None, pxat is not None, persist)):
            raise DataError('``ex``, ``px``, ``exat``, ``pxat``, and ``persist`` are mutually exclusive.')
        exp_options: list[EncodableT] = extract_expire_flags(ex, px, exat, pxat)
        if persist:
            exp_options.append('PERSIST')
        return self.execute_command('GETEX', name, *exp_options)

    def __getitem__(self, name: KeyT):
        """Return the value at key ``name``, raises a KeyError if the key
        doesn't exist."""
        value = self.get(name)
        if value is not None:
            return value
        raise KeyError(name)

    def getbit(self, name: KeyT, offset: int) -> int:
        """Returns an integer indicating the value of ``offset`` in ``name``"""
        return self.execute_command('GETBIT', name, offset, keys=[name])

    def getrange(self, key: KeyT, start: int, end: int) -> bytes | str:
        """Returns the substring of the string value stored at ``key``,
        determined by the offsets ``start`` and ``end`` (both are inclusive)"""
        return self.execute_command('GETRANGE', key, start, end, keys=[key])

    def getset(self, name: KeyT, value: EncodableT) -> bytes | str | None:
        """Sets the value at key ``name`` to ``value``
        and returns the old value at key ``name`` atomically."""
        return self.execute_command('GETSET', name, value)

    def incrby(self, name: KeyT, amount: int=1) -> int:
        """Increments the value of ``key`` by ``amount``.  If no key exists,
        the value will be initialized as ``amount``"""
        return self.execute_command('INCRBY', name, amount)
    incr = incrby

    def incrbyfloat(self, name: KeyT, amount: float=1.0) -> float:
        """Increments the value at key ``name`` by floating ``amount``.
        If no key exists, the value will be initialized as ``amount``"""
        return self.execute_command('INCRBYFLOAT', name, amount)

    def keys(self, pattern: PatternT='*', **kwargs) -> list[bytes | str]:
        """Returns a list of keys matching ``pattern``"""
        return self.execute_command('KEYS', pattern, **kwargs)

    def lmove(self, first_list: str, second_list: str, src: str='LEFT', dest: str='RIGHT') -> bytes | str | None:
        """Atomically returns and removes the first/last element of a list,
        pushing it as the first/last element on the destination list.
        Returns the element being popped and pushed."""
        params = [first_list, second_list, src, dest]
        return self.execute_command('LMOVE', *params)

    def blmove(self, first_list: str, second_list: str, timeout: int, src: str='LEFT', dest: str='RIGHT') -> bytes | str | None:
        """Blocking version of lmove."""
        params = [first_list, second_list, src, dest, timeout]
        return self.execute_command('BLMOVE', *params)

    def mget(self, keys: KeysT, *args: EncodableT) -> list[bytes | str | None]:
        """Returns a list of values ordered identically to ``keys``"""
        args = list_or_args(keys, args)
        options = {}
        if not args:
            options[EMPTY_RESPONSE] = []
        options['keys'] = args
        return self.execute_command('MGET', *args, **options)

    def mset(self, mapping: Mapping[AnyKeyT, EncodableT]) -> bool:
        """Sets key/values based on a mapping. Mapping is a dictionary of
        key/value pairs. Both keys and values should be strings or types that
        can be cast to a string via str()."""
        items = []
        for pair in mapping.items():
            items.extend(pair)
        return self.execute_command('MSET', *items)

    def msetnx(self, mapping: Mapping[AnyKeyT, EncodableT]) -> bool:
        """Sets key/values based on a mapping if none of the keys are already set.
        Mapping is a dictionary of key/value pairs. Both keys and values
        should be strings or types that can be cast to a string via str().
        Returns a boolean indicating if the operation was successful."""
        items = []
        for pair in mapping.items():
            items.extend(pair)
        return self.execute_command('MSETNX', *items)

    def lcs(self, key1: str, key2: str, len: Optional[bool] = False, idx: Optional[bool] = False, minmatchlen: Optional[int] = 0, withmatchlen: Optional[bool] = False) -> Any:
        """
        Find the longest common subsequence between ``key1`` and ``key2``.
        If ``len`` is true the length of the match will be returned.
        If ``idx`` is true the match position in each strings will be returned.
        ``minmatchlen`` restrict the list of matches to the ones of
        the given ``minmatchlen``.
        If ``withmatchlen`` the length of the match also will be returned.
        For more information, see https://redis.io/commands/lcs
        """
        pieces: List[Any] = [key1, key2]
        if len:
            pieces.append("LEN")
        if idx:
            pieces.append("IDX")
        if minmatchlen is not None and minmatchlen != 0:
            pieces.extend(["MINMATCHLEN", minmatchlen])
        if withmatchlen:
            pieces.append("WITHMATCHLEN")
        return self.execute_command("LCS", *pieces)

    def pfadd(self, name: KeyT, *values: EncodableT) -> int:
        """Adds the specified elements to the specified HyperLogLog."""
        return self.execute_command('PFADD', name, *values)

    def pfcount(self, *sources: KeyT) -> int:
        """Return the approximated cardinality of
        the set observed by the HyperLogLog at key(s).
        """
        return self.execute_command('PFCOUNT', *sources)

    def pfmerge(self, dest: KeyT, *sources: KeyT) -> bool:
        """Merge N different HyperLogLogs into a single one."""
        return self.execute_command('PFMERGE', dest, *sources)

    def persist(self, name: KeyT) -> bool:
        """Removes an expiration on ``name``"""
        return self.execute_command('PERSIST', name)

    def pexpire(self, name: KeyT, time: ExpiryT, nx: bool=False, xx: bool=False, gt: bool=False, lt: bool=False) -> bool:
        """Set an expire flag on key ``name`` for ``time`` milliseconds
        with given ``option``. ``time`` can be represented by an
        integer or a Python timedelta object."""
        if isinstance(time, datetime.timedelta):
            time = int(time.total_seconds() * 1000)
        exp_option = list()
        if nx:
            exp_option.append('NX')
        if xx:
            exp_option.append('XX')
        if gt:
            exp_option.append('GT')
        if lt:
            exp_option.append('LT')
        return self.execute_command('PEXPIRE', name, time, *exp_option)

    def pexpireat(self, name: KeyT, when: AbsExpiryT, nx: bool=False, xx: bool=False, gt: bool=False, lt: bool=False) -> bool:
        """Set an expire flag on key ``name`` with given ``option``. ``when``
        can be represented as an integer representing unix time in
        milliseconds (unix time * 1000) or a Python datetime object."""
        if isinstance(when, datetime.datetime):
            when = int(when.timestamp() * 1000)
        exp_option = list()
        if nx:
            exp_option.append('NX')
        if xx:
            exp_option.append('XX')
        if gt:
            exp_option.append('GT')
        if lt:
            exp_option.append('LT')
        return self.execute_command('PEXPIREAT', name, when, *exp_option)

    def pexpiretime(self, key: str) -> int:
        """Returns the absolute Unix timestamp (since January 1, 1970) in milliseconds
        at which the given key will expire."""
        return self.execute_command('PEXPIRETIME', key)

    def psetex(self, name: KeyT, time_ms: ExpiryT, value: EncodableT) -> bool:
        """Set the value of key ``name`` to ``value`` that expires in ``time_ms``
        milliseconds. ``time_ms`` can be represented by an integer or a Python
        timedelta object"""
        if isinstance(time_ms, datetime.timedelta):
            time_ms = int(time_ms.total_seconds() * 1000)
        return self.execute_command('PSETEX', name, time_ms, value)

    def pttl(self, name: KeyT) -> int:
        """Returns the number of milliseconds until the key ``name`` will expire"""
        return self.execute_command('PTTL', name)

    def hrandfield(self, key: KeyT, count: int | None=None, withvalues: bool=False) -> HRandFieldResponse:
        """Return a random field from the hash value stored at key."""
        params = []
        if count is not None:
            params.append(count)
        if withvalues:
            params.append('WITHVALUES')
        return self.execute_command('HRANDFIELD', key, *params, withvalues=withvalues)

    def randomkey(self, **kwargs) -> bytes | str | None:
        """Returns the name of a random key"""
        return self.execute_command('RANDOMKEY', **kwargs)

    def rename(self, src: KeyT, dst: KeyT) -> bool:
        """Rename key ``src`` to ``dst``"""
        return self.execute_command('RENAME', src, dst)

    def renamenx(self, src: KeyT, dst: KeyT) -> bool:
        """Rename key ``src`` to ``dst`` if ``dst`` doesn't already exist"""
        return self.execute_command('RENAMENX', src, dst)

    def set(self, name: KeyT, value: EncodableT, ex: ExpiryT | None=None, px: ExpiryT | None=None, nx: bool=False, xx: bool=False, keepttl: bool=False, get: bool=False, exat: AbsExpiryT | None=None, pxat: AbsExpiryT | None=None, ifeq: bytes | str | None=None, ifne: bytes | str | None=None, ifdeq: str | None=None, ifdne: str | None=None) -> bool | str | bytes | None:
        """Set the value at key ``name`` to ``value``"""
        if not at_most_one_value_set((ex is not None, px is not None, exat is not None, pxat is not None, keepttl)):
            raise DataError('``ex``, ``px``, ``exat``, ``pxat``, and ``keepttl`` are mutually exclusive.')
        if not at_most_one_value_set((nx, xx, ifeq is not None, ifne is not None, ifdeq is not None, ifdne is not None)):
            raise DataError('``nx``, ``xx``, ``ifeq``, ``ifne``, ``ifdeq``, ``ifdne`` are mutually exclusive.')
        pieces: list[EncodableT] = [name, value]
        options = {}
        if nx:
            pieces.append('NX')
        elif xx:
            pieces.append('XX')
        elif ifeq is not None:
            pieces.extend(('IFEQ', ifeq))
        elif ifne is not None:
            pieces.extend(('IFNE', ifne))
        elif ifdeq is not None:
            pieces.extend(('IFDEQ', ifdeq))
        elif ifdne is not None:
            pieces.extend(('IFDNE', ifdne))
        if get:
            pieces.append('GET')
            options['get'] = True
        pieces.extend(extract_expire_flags(ex, px, exat, pxat))
        if keepttl:
            pieces.append('KEEPTTL')
        return self.execute_command('SET', *pieces, **options)

    def __setitem__(self, name: KeyT, value: EncodableT):
        self.set(name, value)

    def setex(self, name: KeyT, time: ExpiryT, value: EncodableT) -> bool:
        """Set the value of key ``name`` to ``value`` that expires in ``time``
        seconds. ``time`` can be represented by an integer or a Python
        timedelta object."""
        if isinstance(time, datetime.timedelta):
            time = int(time.total_seconds())
        return self.execute_command('SETEX', name, time, value)

    def setnx(self, name: KeyT, value: EncodableT) -> bool:
        """Set the value of key ``name`` to ``value`` if key doesn't exist"""
        return self.execute_command('SETNX', name, value)

    def setbit(self, name: KeyT, offset: int, value: int) -> int:
        """Flag the ``offset`` in ``name`` as ``value``. Returns an integer
        indicating the previous value of ``offset``."""
        value = value and 1 or 0
        return self.execute_command('SETBIT', name, offset, value)

    def setrange(self, name: KeyT, offset: int, value: EncodableT) -> int:
        """Overwrite bytes in the value of ``name`` starting at ``offset`` with
        ``value``. If ``offset`` plus the length of ``value`` exceeds the
        length of the original value, the new value will be larger than before.
        If ``offset`` exceeds the length of the original value, null bytes
        will be used to pad between the end of the previous value and the start
        of what's being injected."""
        return self.execute_command('SETRANGE', name, offset, value)

    def strlen(self, name: KeyT) -> int:
        """Return the number of bytes stored in the value of ``name``"""
        return self.execute_command('STRLEN', name, keys=[name])

    def substr(self, name: KeyT, start: int, end: int=-1) -> bytes | str:
        """Return a substring of the string at key ``name``. ``start`` and ``end``
        are 0-based integers specifying the portion of the string to return."""
        return self.execute_command('SUBSTR', name, start, end, keys=[name])

    def touch(self, *args: KeyT) -> int:
        """Alters the last access time of a key(s) ``*args``. A key is ignored
        if it does not exist."""
        return self.execute_command('TOUCH', *args)

    def ttl(self, name: KeyT) -> int:
        """Returns the number of seconds until the key ``name`` will expire"""
        return self.execute_command('TTL', name)

    def type(self, name: KeyT) -> bytes | str:
        """Returns the type of key ``name``"""
        return self.execute_command('TYPE', name, keys=[name])

    def watch(self, *names: KeyT) -> None:
        """Watches the values at keys ``names``, or None if the key doesn't exist"""
        warnings.warn(DeprecationWarning('Call WATCH from a Pipeline object'))

    def unwatch(self) -> None:
        """Unwatches all previously watched keys for a transaction"""
        warnings.warn(DeprecationWarning('Call UNWATCH from a Pipeline object'))

    def unlink(self, *names: KeyT) -> int:
        """Unlink one or more keys specified by ``names``"""
        return self.execute_command('UNLINK', *names)

    # --- redis-py ListCommands ---

    def blpop(self, keys: KeysT, timeout: Number | None=0) -> BlockingListPopResponse:
        """LPOP a value off of the first non-empty list
        named in ``keys``."""
        if timeout is None:
            timeout = 0
        keys = list_or_args(keys, None)
        keys.append(timeout)
        return self.execute_command('BLPOP', *keys)

    def brpop(self, keys: KeysT, timeout: Number | None=0) -> BlockingListPopResponse:
        """RPOP a value off of the first non-empty list
        named in ``keys``."""
        if timeout is None:
            timeout = 0
        keys = list_or_args(keys, None)
        keys.append(timeout)
        return self.execute_command('BRPOP', *keys)

    def brpoplpush(self, src: KeyT, dst: KeyT, timeout: Number | None=0) -> bytes | str | None:
        """Pop a value off the tail of ``src``, push it on the head of ``dst``
        and then return it."""
        if timeout is None:
            timeout = 0
        return self.execute_command('BRPOPLPUSH', src, dst, timeout)

    def blmpop(self, timeout: float, numkeys: int, *args: str, direction: str, count: int | None=1) -> ListMultiPopResponse:
        """Pop ``count`` values (default 1) from first non-empty in the list
        of provided key names."""
        cmd_args = [timeout, numkeys, *args, direction, 'COUNT', count]
        return self.execute_command('BLMPOP', *cmd_args)

    def lmpop(self, num_keys: int, *args: str, direction: str, count: int | None=1) -> ListMultiPopResponse:
        """Pop ``count`` values (default 1) first non-empty list key from the list
        of args provided key names."""
        cmd_args = [num_keys] + list(args) + [direction]
        if count != 1:
            cmd_args.extend(['COUNT', count])
        return self.execute_command('LMPOP', *cmd_args)

    def lindex(self, name: KeyT, index: int) -> bytes | str | None:
        """Return the item from list ``name`` at position ``index``"""
        return self.execute_command('LINDEX', name, index, keys=[name])

    def linsert(self, name: KeyT, where: str, refvalue: str, value: str) -> int:
        """Insert ``value`` in list ``name`` either immediately before or after
        [``where``] ``refvalue``"""
        return self.execute_command('LINSERT', name, where, refvalue, value)

    def llen(self, name: KeyT) -> int:
        """Return the length of the list ``name``"""
        return self.execute_command('LLEN', name, keys=[name])

    def lpop(self, name: KeyT, count: int | None=None) -> bytes | str | list[bytes | str] | None:
        """Removes and returns the first elements of the list ``name``."""
        if count is not None:
            return self.execute_command('LPOP', name, count)
        else:
            return self.execute_command('LPOP', name)

    def lpush(self, name: KeyT, *values: FieldT) -> int:
        """Push ``values`` onto the head of the list ``name``"""
        return self.execute_command('LPUSH', name, *values)

    def lpushx(self, name: KeyT, *values: FieldT) -> int:
        """Push ``value`` onto the head of the list ``name`` if ``name`` exists"""
        return self.execute_command('LPUSHX', name, *values)

    def lrange(self, name: KeyT, start: int, end: int) -> list[bytes | str]:
        """Return a slice of the list ``name`` between
        position ``start`` and ``end``"""
        return self.execute_command('LRANGE', name, start, end, keys=[name])

    def lrem(self, name: KeyT, count: int, value: str) -> int:
        """Remove the first ``count`` occurrences of elements equal to ``value``
        from the list stored at ``name``."""
        return self.execute_command('LREM', name, count, value)

    def lset(self, name: KeyT, index: int, value: str) -> bool:
        """Set element at ``index`` of list ``name`` to ``value``"""
        return self.execute_command('LSET', name, index, value)

    def ltrim(self, name: KeyT, start: int, end: int) -> bool:
        """Trim the list ``name``, removing all values not within the slice
        between ``start`` and ``end``"""
        return self.execute_command('LTRIM', name, start, end)

    def rpop(self, name: KeyT, count: int | None=None) -> bytes | str | list[bytes | str] | None:
        """Removes and returns the last elements of the list ``name``."""
        if count is not None:
            return self.execute_command('RPOP', name, count)
        else:
            return self.execute_command('RPOP', name)

    def rpoplpush(self, src: KeyT, dst: KeyT) -> bytes | str | None:
        """RPOP a value off of the ``src`` list and atomically LPUSH it
        on to the ``dst`` list.  Returns the value."""
        return self.execute_command('RPOPLPUSH', src, dst)

    def rpush(self, name: KeyT, *values: FieldT) -> int:
        """Push ``values`` onto the tail of the list ``name``"""
        return self.execute_command('RPUSH', name, *values)

    def rpushx(self, name: KeyT, *values: str) -> int:
        """Push ``value`` onto the tail of the list ``name`` if ``name`` exists"""
        return self.execute_command('RPUSHX', name, *values)

    def lpos(self, name: KeyT, value: str, rank: int | None=None, count: int | None=None, maxlen: int | None=None) -> int | list[int] | None:
        """Get position of ``value`` within the list ``name``"""
        pieces: list[EncodableT] = [name, value]
        if rank is not None:
            pieces.extend(['RANK', rank])
        if count is not None:
            pieces.extend(['COUNT', count])
        if maxlen is not None:
            pieces.extend(['MAXLEN', maxlen])
        return self.execute_command('LPOS', *pieces, keys=[name])

    # --- redis-py ScanCommands ---

    def scan(self, cursor: int=0, match: PatternT | None=None, count: int | None=None, _type: str | None=None, **kwargs) -> ScanResponse:
        """Incrementally return lists of key names. Also return a cursor
        indicating the scan position."""
        pieces: list[EncodableT] = [cursor]
        if match is not None:
            pieces.extend([b'MATCH', match])
        if count is not None:
            pieces.extend([b'COUNT', count])
        if _type is not None:
            pieces.extend([b'TYPE', _type])
        return self.execute_command('SCAN', *pieces, **kwargs)

    def scan_iter(self, match: Union[PatternT, None]=None, count: Optional[int]=None, _type: Optional[str]=None, **kwargs) -> Iterator:
        """Make an iterator using the SCAN command so that the client doesn't
        need to remember the cursor position."""
        cursor = '0'
        while cursor != 0:
            cursor, data = self.scan(cursor=cursor, match=match, count=count, _type=_type, **kwargs)
            yield from data

    def sscan(self, name: KeyT, cursor: int=0, match: PatternT | None=None, count: int | None=None) -> ScanResponse:
        """Incrementally return lists of elements in a set. Also return a cursor
        indicating the scan position."""
        pieces: list[EncodableT] = [name, cursor]
        if match is not None:
            pieces.extend([b'MATCH', match])
        if count is not None:
            pieces.extend([b'COUNT', count])
        return self.execute_command('SSCAN', *pieces)

    def sscan_iter(self, name: KeyT, match: Union[PatternT, None]=None, count: Optional[int]=None) -> Iterator:
        """Make an iterator using the SSCAN command so that the client doesn't
        need to remember the cursor position."""
        cursor = '0'
        while cursor != 0:
            cursor, data = self.sscan(name, cursor=cursor, match=match, count=count)
            yield from data

    def hscan(self, name: KeyT, cursor: int=0, match: PatternT | None=None, count: int | None=None, no_values: bool | None=None) -> HScanResponse:
        """Incrementally return key/value slices in a hash. Also return a cursor
        indicating the scan position."""
        pieces: list[EncodableT] = [name, cursor]
        if match is not None:
            pieces.extend([b'MATCH', match])
        if count is not None:
            pieces.extend([b'COUNT', count])
        if no_values is not None:
            pieces.extend([b'NOVALUES'])
        return self.execute_command('HSCAN', *pieces, no_values=no_values)

    def hscan_iter(self, name: KeyT, match: Union[PatternT, None]=None, count: Optional[int]=None, no_values: Union[bool, None]=None) -> Iterator:
        """Make an iterator using the HSCAN command so that the client doesn't
        need to remember the cursor position."""
        cursor = '0'
        while cursor != 0:
            cursor, data = self.hscan(name, cursor=cursor, match=match, count=count, no_values=no_values)
            if no_values:
                yield from data
            else:
                yield from data.items()

    def zscan(self, name: KeyT, cursor: int=0, match: PatternT | None=None, count: int | None=None, score_cast_func: type | Callable=float) -> ZScanResponse:
        """Incrementally return lists of elements in a sorted set. Also return a
        cursor indicating the scan position."""
        pieces = [name, cursor]
        if match is not None:
            pieces.extend([b'MATCH', match])
        if count is not None:
            pieces.extend([b'COUNT', count])
        options = {'score_cast_func': score_cast_func}
        return self.execute_command('ZSCAN', *pieces, **options)

    def zscan_iter(self, name: KeyT, match: Union[PatternT, None]=None, count: Optional[int]=None, score_cast_func: Union[type, Callable]=float) -> Iterator:
        """Make an iterator using the ZSCAN command so that the client doesn't
        need to remember the cursor position."""
        cursor = '0'
        while cursor != 0:
            cursor, data = self.zscan(name, cursor=cursor, match=match, count=count, score_cast_func=score_cast_func)
            yield from data

    # --- redis-py SetCommands ---

    def sadd(self, name: KeyT, *values: FieldT) -> int:
        """Add ``value(s)`` to set ``name``"""
        return self.execute_command('SADD', name, *values)

    def scard(self, name: KeyT) -> int:
        """Return the number of elements in set ``name``"""
        return self.execute_command('SCARD', name, keys=[name])

    def sdiff(self, keys: List, *args: List) -> set[bytes | str]:
        """Return the difference of sets specified by ``keys``"""
        args = list_or_args(keys, args)
        return self.execute_command('SDIFF', *args, keys=args)

    def sdiffstore(self, dest: str, keys: List, *args: List) -> int:
        """Store the difference of sets specified by ``keys`` into a new
        set named ``dest``.  Returns the number of keys in the new set."""
        args = list_or_args(keys, args)
        return self.execute_command('SDIFFSTORE', dest, *args)

    def sinter(self, keys: List, *args: List) -> set[bytes | str]:
        """Return the intersection of sets specified by ``keys``"""
        args = list_or_args(keys, args)
        return self.execute_command('SINTER', *args, keys=args)

    def sintercard(self, numkeys: int, keys: List[KeyT], limit: int=0) -> int:
        """Return the cardinality of the intersect of multiple sets specified by ``keys``."""
        args = [numkeys, *keys, 'LIMIT', limit]
        return self.execute_command('SINTERCARD', *args, keys=keys)

    def sinterstore(self, dest: KeyT, keys: List, *args: List) -> int:
        """Store the intersection of sets specified by ``keys`` into a new
        set named ``dest``.  Returns the number of keys in the new set."""
        args = list_or_args(keys, args)
        return self.execute_command('SINTERSTORE', dest, *args)

    def sismember(self, name: KeyT, value: str) -> Literal[0] | Literal[1]:
        """Return whether ``value`` is a member of set ``name``:
        - 1 if the value is a member of the set.
        - 0 if the value is not a member of the set or if key does not exist."""
        return self.execute_command('SISMEMBER', name, value, keys=[name])

    def smembers(self, name: KeyT) -> set[bytes | str]:
        """Return all members of the set ``name``"""
        return self.execute_command('SMEMBERS', name, keys=[name])

    def smismember(self, name: KeyT, values: List, *args: List) -> list[Literal[0] | Literal[1]]:
        """Return whether each value in ``values`` is a member of the set ``name``
        as a list of ``int`` in the order of ``values``:
        - 1 if the value is a member of the set.
        - 0 if the value is not a member of the set or if key does not exist."""
        args = list_or_args(values, args)
        return self.execute_command('SMISMEMBER', name, *args, keys=[name])

    def smove(self, src: KeyT, dst: KeyT, value: str) -> bool:
        """Move ``value`` from set ``src`` to set ``dst`` atomically"""
        return self.execute_command('SMOVE', src, dst, value)

    def spop(self, name: KeyT, count: int | None=None) -> bytes | str | set[bytes | str] | None:
        """Remove and return a random member of set ``name``"""
        args = count is not None and [count] or []
        return self.execute_command('SPOP', name, *args)

    def srandmember(self, name: KeyT, number: int | None=None) -> bytes | str | list[bytes | str] | None:
        """If ``number`` is None, returns a random member of set ``name``."""
        args = number is not None and [number] or []
        return self.execute_command('SRANDMEMBER', name, *args)

    def srem(self, name: KeyT, *values: FieldT) -> int:
        """Remove ``values`` from set ``name``"""
        return self.execute_command('SREM', name, *values)

    def sunion(self, keys: List, *args: List) -> set[bytes | str]:
        """Return the union of sets specified by ``keys``"""
        args = list_or_args(keys, args)
        return self.execute_command('SUNION', *args, keys=args)

    def sunionstore(self, dest: KeyT, keys: List, *args: List) -> int:
        """Store the union of sets specified by ``keys`` into a new
        set named ``dest``.  Returns the number of keys in the new set."""
        args = list_or_args(keys, args)
        return self.execute_command('SUNIONSTORE', dest, *args)

    # --- redis-py StreamCommands ---

    def xack(self, name: KeyT, groupname: GroupT, *ids: StreamIdT) -> int:
        """Acknowledges the successful processing of one or more messages.

        Args:
            name: name of the stream.
            groupname: name of the consumer group.
            *ids: message ids to acknowledge.

        For more information, see https://redis.io/commands/xack"""
        return self.execute_command('XACK', name, groupname, *ids)

    def xadd(self, name: KeyT, fields: Dict[FieldT, EncodableT], id: StreamIdT='*', maxlen: int | None=None, approximate: bool=True, nomkstream: bool=False, minid: StreamIdT | None=None, limit: int | None=None, ref_policy: Literal['KEEPREF', 'DELREF', 'ACKED'] | None=None, idmpauto: str | None=None, idmp: tuple[str, bytes] | None=None) -> bytes | str:
        """Add to a stream.
        name: name of the stream
        fields: dict of field/value pairs to insert into the stream
        id: Location to insert this record. By default it is appended.
        maxlen: truncate old stream members beyond this size.
        Can't be specified with minid.
        approximate: actual stream length may be slightly more than maxlen
        nomkstream: When set to true, do not make a stream
        minid: the minimum id in the stream to query.
        Can't be specified with maxlen.
        limit: specifies the maximum number of entries to retrieve
        ref_policy: optional reference policy for consumer groups when trimming:
            - KEEPREF (default): When trimming, preserves references in consumer groups' PEL
            - DELREF: When trimming, removes all references from consumer groups' PEL
            - ACKED: When trimming, only removes entries acknowledged by all consumer groups
        idmpauto: Producer ID for automatic idempotent ID calculation.
            Automatically calculates an idempotent ID based on entry content to prevent
            duplicate entries. Can only be used with id='*'. Creates an IDMP map if it
            doesn't exist yet. The producer ID must be unique per producer and consistent
            across restarts.
        idmp: Tuple of (producer_id, idempotent_id) for explicit idempotent ID.
            Uses a specific idempotent ID to prevent duplicate entries. Can only be used
            with id='*'. The producer ID must be unique per producer and consistent across
            restarts. The idempotent ID must be unique per message and per producer.
            Shorter idempotent IDs require less memory and allow faster processing.
            Creates an IDMP map if it doesn't exist yet.

        For more information, see https://redis.io/commands/xadd"""
        pieces: list[EncodableT] = []
        if maxlen is not None and minid is not None:
            raise DataError('Only one of ```maxlen``` or ```minid``` may be specified')
        if idmpauto is not None and idmp is not None:
            raise DataError('Only one of ```idmpauto``` or ```idmp``` may be specified')
        if (idmpauto is not None or idmp is not None) and id != '*':
            raise DataError("IDMPAUTO and IDMP can only be used with id='*'")
        if ref_policy is not None and ref_policy not in {'KEEPREF', 'DELREF', 'ACKED'}:
            raise DataError('XADD ref_policy must be one of: KEEPREF, DELREF, ACKED')
        if nomkstream:
            pieces.append(b'NOMKSTREAM')
        if ref_policy is not None:
            pieces.append(ref_policy)
        if idmpauto is not None:
            pieces.extend([b'IDMPAUTO', idmpauto])
        if idmp is not None:
            if not isinstance(idmp, tuple) or len(idmp) != 2:
                raise DataError('XADD idmp must be a tuple of (producer_id, idempotent_id)')
            pieces.extend([b'IDMP', idmp[0], idmp[1]])
        if maxlen is not None:
            if not isinstance(maxlen, int) or maxlen < 0:
                raise DataError('XADD maxlen must be non-negative integer')
            pieces.append(b'MAXLEN')
            if approximate:
                pieces.append(b'~')
            pieces.append(str(maxlen))
        if minid is not None:
            pieces.append(b'MINID')
            if approximate:
                pieces.append(b'~')
            pieces.append(minid)
        if limit is not None:
            pieces.extend([b'LIMIT', limit])
        pieces.append(id)
        if not isinstance(fields, dict) or len(fields) == 0:
            raise DataError('XADD fields must be a non-empty dict')
        for pair in fields.items():
            pieces.extend(pair)
        return self.execute_command('XADD', name, *pieces)

    def xautoclaim(self, name: KeyT, groupname: GroupT, consumername: ConsumerT, min_idle_time: int, start_id: StreamIdT='0-0', count: int | None=None, justid: bool=False) -> list[Any]:
        """Transfers ownership of pending stream entries that match the specified
        criteria. Conceptually, equivalent to calling XPENDING and then XCLAIM,
        but provides a more straightforward way to deal with message delivery
        failures via SCAN-like semantics.
        name: name of the stream.
        groupname: name of the consumer group.
        consumername: name of a consumer that claims the message.
        min_idle_time: filter messages that were idle less than this amount of
        milliseconds.
        start_id: filter messages with equal or greater ID.
        count: optional integer, upper limit of the number of entries that the
        command attempts to claim. Set to 100 by default.
        justid: optional boolean, false by default. Return just an array of IDs
        of messages successfully claimed, without returning the actual message

        For more information, see https://redis.io/commands/xautoclaim"""
        try:
            if int(min_idle_time) < 0:
                raise DataError('XAUTOCLAIM min_idle_time must be a nonnegative integer')
        except TypeError:
            pass
        kwargs = {}
        pieces = [name, groupname, consumername, min_idle_time, start_id]
        try:
            if int(count) < 0:
                raise DataError('XPENDING count must be a integer >= 0')
            pieces.extend([b'COUNT', count])
        except TypeError:
            pass
        if justid:
            pieces.append(b'JUSTID')
            kwargs['parse_justid'] = True
        return self.execute_command('XAUTOCLAIM', *pieces, **kwargs)

    def xclaim(self, name: KeyT, groupname: GroupT, consumername: ConsumerT, min_idle_time: int, message_ids: Union[List[StreamIdT], Tuple[StreamIdT]], idle: int | None=None, time: int | None=None, retrycount: int | None=None, force: bool=False, justid: bool=False) -> XClaimResponse:
        """Changes the ownership of a pending message.

        name: name of the stream.

        groupname: name of the consumer group.

        consumername: name of a consumer that claims the message.

        min_idle_time: filter messages that were idle less than this amount of
        milliseconds

        message_ids: non-empty list or tuple of message IDs to claim

        idle: optional. Set the idle time (last time it was delivered) of the
        message in ms

        time: optional integer. This is the same as idle but instead of a
        relative amount of milliseconds, it sets the idle time to a specific
        Unix time (in milliseconds).

        retrycount: optional integer. set the retry counter to the specified
        value. This counter is incremented every time a message is delivered
        again.

        force: optional boolean, false by default. Creates the pending message
        entry in the PEL even if certain specified IDs are not already in the
        PEL assigned to a different client.

        justid: optional boolean, false by default. Return just an array of IDs
        of messages successfully claimed, without returning the actual message

        For more information, see https://redis.io/commands/xclaim"""
        if not isinstance(min_idle_time, int) or min_idle_time < 0:
            raise DataError('XCLAIM min_idle_time must be a non negative integer')
        if not isinstance(message_ids, (list, tuple)) or not message_ids:
            raise DataError('XCLAIM message_ids must be a non empty list or tuple of message IDs to claim')
        kwargs = {}
        pieces: list[EncodableT] = [name, groupname, consumername, str(min_idle_time)]
        pieces.extend(list(message_ids))
        if idle is not None:
            if not isinstance(idle, int):
                raise DataError('XCLAIM idle must be an integer')
            pieces.extend((b'IDLE', str(idle)))
        if time is not None:
            if not isinstance(time, int):
                raise DataError('XCLAIM time must be an integer')
            pieces.extend((b'TIME', str(time)))
        if retrycount is not None:
            if not isinstance(retrycount, int):
                raise DataError('XCLAIM retrycount must be an integer')
            pieces.extend((b'RETRYCOUNT', str(retrycount)))
        if force:
            if not isinstance(force, bool):
                raise DataError('XCLAIM force must be a boolean')
            pieces.append(b'FORCE')
        if justid:
            if not isinstance(justid, bool):
                raise DataError('XCLAIM justid must be a boolean')
            pieces.append(b'JUSTID')
            kwargs['parse_justid'] = True
        return self.execute_command('XCLAIM', *pieces, **kwargs)

    def xdel(self, name: KeyT, *ids: StreamIdT) -> int:
        """Deletes one or more messages from a stream.

        Args:
            name: name of the stream.
            *ids: message ids to delete.

        For more information, see https://redis.io/commands/xdel"""
        return self.execute_command('XDEL', name, *ids)

    def xgroup_create(self, name: KeyT, groupname: GroupT, id: StreamIdT='$', mkstream: bool=False, entries_read: int | None=None) -> bool:
        """Create a new consumer group associated with a stream.
        name: name of the stream.
        groupname: name of the consumer group.
        id: ID of the last item in the stream to consider already delivered.

        For more information, see https://redis.io/commands/xgroup-create"""
        pieces: list[EncodableT] = ['XGROUP CREATE', name, groupname, id]
        if mkstream:
            pieces.append(b'MKSTREAM')
        if entries_read is not None:
            pieces.extend(['ENTRIESREAD', entries_read])
        return self.execute_command(*pieces)

    def xgroup_delconsumer(self, name: KeyT, groupname: GroupT, consumername: ConsumerT) -> int:
        """Remove a specific consumer from a consumer group.
        Returns the number of pending messages that the consumer had before it
        was deleted.
        name: name of the stream.
        groupname: name of the consumer group.
        consumername: name of consumer to delete

        For more information, see https://redis.io/commands/xgroup-delconsumer"""
        return self.execute_command('XGROUP DELCONSUMER', name, groupname, consumername)

    def xgroup_destroy(self, name: KeyT, groupname: GroupT) -> bool:
        """Destroy a consumer group.
        name: name of the stream.
        groupname: name of the consumer group.

        For more information, see https://redis.io/commands/xgroup-destroy"""
        return self.execute_command('XGROUP DESTROY', name, groupname)

    def xgroup_createconsumer(self, name: KeyT, groupname: GroupT, consumername: ConsumerT) -> int:
        """Consumers in a consumer group are auto-created every time a new
        consumer name is mentioned by some command.
        They can be explicitly created by using this command.
        name: name of the stream.
        groupname: name of the consumer group.
        consumername: name of consumer to create.

        See: https://redis.io/commands/xgroup-createconsumer"""
        return self.execute_command('XGROUP CREATECONSUMER', name, groupname, consumername)

    def xgroup_setid(self, name: KeyT, groupname: GroupT, id: StreamIdT, entries_read: int | None=None) -> bool:
        """Set the consumer group last delivered ID to something else.
        name: name of the stream.
        groupname: name of the consumer group.
        id: ID of the last item in the stream to consider already delivered.

        For more information, see https://redis.io/commands/xgroup-setid"""
        pieces = [name, groupname, id]
        if entries_read is not None:
            pieces.extend(['ENTRIESREAD', entries_read])
        return self.execute_command('XGROUP SETID', *pieces)

    def xinfo_consumers(self, name: KeyT, groupname: GroupT) -> list[dict[str, Any]]:
        """Returns general information about the consumers in the group.
        name: name of the stream.
        groupname: name of the consumer group.

        For more information, see https://redis.io/commands/xinfo-consumers"""
        return self.execute_command('XINFO CONSUMERS', name, groupname)

    def xinfo_groups(self, name: KeyT) -> list[dict[str, Any]]:
        """Returns general information about the consumer groups of the stream.
        name: name of the stream.

        For more information, see https://redis.io/commands/xinfo-groups"""
        return self.execute_command('XINFO GROUPS', name)

    def xinfo_stream(self, name: KeyT, full: bool=False) -> dict[str, Any]:
        """Returns general information about the stream.
        name: name of the stream.
        full: optional boolean, false by default. Return full summary

        For more information, see https://redis.io/commands/xinfo-stream"""
        pieces = [name]
        options = {}
        if full:
            pieces.append(b'FULL')
            options = {'full': full}
        return self.execute_command('XINFO STREAM', *pieces, **options)

    def xlen(self, name: KeyT) -> int:
        """Returns the number of elements in a given stream.

        For more information, see https://redis.io/commands/xlen"""
        return self.execute_command('XLEN', name, keys=[name])

    def xpending(self, name: KeyT, groupname: GroupT) -> dict[str, Any]:
        """Returns information about pending messages of a group.
        name: name of the stream.
        groupname: name of the consumer group.

        For more information, see https://redis.io/commands/xpending"""
        return self.execute_command('XPENDING', name, groupname, keys=[name])

    def xpending_range(self, name: KeyT, groupname: GroupT, min: StreamIdT, max: StreamIdT, count: int, consumername: ConsumerT | None=None, idle: int | None=None) -> XPendingRangeResponse:
        """Returns information about pending messages, in a range.

        name: name of the stream.
        groupname: name of the consumer group.
        idle: available from  version 6.2. filter entries by their
        idle-time, given in milliseconds (optional).
        min: minimum stream ID.
        max: maximum stream ID.
        count: number of messages to return
        consumername: name of a consumer to filter by (optional)."""
        if {min, max, count} == {None}:
            if idle is not None or consumername is not None:
                raise DataError('if XPENDING is provided with idle time or consumername, it must be provided with min, max and count parameters')
            return self.xpending(name, groupname)
        pieces = [name, groupname]
        if min is None or max is None or count is None:
            raise DataError('XPENDING must be provided with min, max and count parameters, or none of them.')
        try:
            if int(idle) < 0:
                raise DataError('XPENDING idle must be a integer >= 0')
            pieces.extend(['IDLE', idle])
        except TypeError:
            pass
        try:
            if int(count) < 0:
                raise DataError('XPENDING count must be a integer >= 0')
            pieces.extend([min, max, count])
        except TypeError:
            pass
        if consumername:
            pieces.append(consumername)
        return self.execute_command('XPENDING', *pieces, parse_detail=True)

    def xrange(self, name: KeyT, min: StreamIdT='-', max: StreamIdT='+', count: int | None=None) -> StreamRangeResponse | None:
        """Read stream values within an interval.

        name: name of the stream.

        start: first stream ID. defaults to '-',
               meaning the earliest available.

        finish: last stream ID. defaults to '+',
                meaning the latest available.

        count: if set, only return this many items, beginning with the
               earliest available.

        For more information, see https://redis.io/commands/xrange"""
        pieces = [min, max]
        if count is not None:
            if not isinstance(count, int) or count < 1:
                raise DataError('XRANGE count must be a positive integer')
            pieces.append(b'COUNT')
            pieces.append(str(count))
        return self.execute_command('XRANGE', name, *pieces, keys=[name])

    def xread(self, streams: Dict[KeyT, StreamIdT], count: int | None=None, block: int | None=None, max_count: int | None=None, max_size: int | None=None) -> XReadResponse:
        """Block and monitor multiple streams for new data.

        streams: a dict of stream names to stream IDs, where
                   IDs indicate the last ID already seen.

        count: if set, only return this many items per stream, beginning with
               the earliest available.

        block: number of milliseconds to wait, if nothing already present.

        max_count: if set, cap the total number of entries returned across all
                   streams combined. Unlike ``count`` (a per-stream limit),
                   this is a cumulative cap over the whole reply. Must be a
                   positive integer and, when ``count`` is also set, must be
                   greater than or equal to ``count``. Requires Redis >= 8.10.0.

        max_size: if set, a soft cap on the total server reply size in bytes
                  across all streams combined. Measured server-side including
                  protocol overhead, so it is not an exact application-payload
                  size guarantee; a single available entry larger than the cap
                  may still be returned. Must be a positive integer. Requires
                  Redis >= 8.10.0.

        For more information, see https://redis.io/commands/xread"""
        pieces = []
        if block is not None:
            if not isinstance(block, int) or block < 0:
                raise DataError('XREAD block must be a non-negative integer')
            pieces.append(b'BLOCK')
            pieces.append(str(block))
        if count is not None:
            if not isinstance(count, int) or count < 1:
                raise DataError('XREAD count must be a positive integer')
            pieces.append(b'COUNT')
            pieces.append(str(count))
        if max_count is not None:
            if not isinstance(max_count, int) or max_count < 1:
                raise DataError('XREAD max_count must be a positive integer')
            if count is not None and max_count < count:
                raise DataError('XREAD max_count must be greater than or equal to count')
            pieces.append(b'MAXCOUNT')
            pieces.append(str(max_count))
        if max_size is not None:
            if not isinstance(max_size, int) or max_size < 1:
                raise DataError('XREAD max_size must be a positive integer')
            pieces.append(b'MAXSIZE')
            pieces.append(str(max_size))
        if not isinstance(streams, dict) or len(streams) == 0:
            raise DataError('XREAD streams must be a non empty dict')
        pieces.append(b'STREAMS')
        keys, values = zip(*streams.items())
        pieces.extend(keys)
        pieces.extend(values)
        # (redis-py also feeds its observability recorder the streaming lag here; nestdb has none)
        return self.execute_command('XREAD', *pieces, keys=keys)

    def xreadgroup(self, groupname: str, consumername: str, streams: Dict[KeyT, StreamIdT], count: int | None=None, block: int | None=None, noack: bool=False, claim_min_idle_time: int | None=None, max_count: int | None=None, max_size: int | None=None) -> XReadGroupResponse:
        """Read from a stream via a consumer group.

        groupname: name of the consumer group.

        consumername: name of the requesting consumer.

        streams: a dict of stream names to stream IDs, where
               IDs indicate the last ID already seen.

        count: if set, only return this many items per stream, beginning with
               the earliest available.

        block: number of milliseconds to wait, if nothing already present.
        noack: do not add messages to the PEL

        claim_min_idle_time: accepts an integer type and represents a
                             time interval in milliseconds

        max_count: if set, cap the total number of entries returned across all
                   streams combined. Unlike ``count`` (a per-stream limit),
                   this is a cumulative cap over the whole reply. Must be a
                   positive integer and, when ``count`` is also set, must be
                   greater than or equal to ``count``. Requires Redis 8.10.0.

        max_size: if set, a soft cap on the total server reply size in bytes
                  across all streams combined. Measured server-side including
                  protocol overhead, so it is not an exact application-payload
                  size guarantee; a single available entry larger than the cap
                  may still be returned. Must be a positive integer. Requires
                  Redis 8.10.0.

        For more information, see https://redis.io/commands/xreadgroup"""
        options = {}
        pieces: list[EncodableT] = [b'GROUP', groupname, consumername]
        if count is not None:
            if not isinstance(count, int) or count < 1:
                raise DataError('XREADGROUP count must be a positive integer')
            pieces.append(b'COUNT')
            pieces.append(str(count))
        if max_count is not None:
            if not isinstance(max_count, int) or max_count < 1:
                raise DataError('XREADGROUP max_count must be a positive integer')
            if count is not None and max_count < count:
                raise DataError('XREADGROUP max_count must be greater than or equal to count')
            pieces.append(b'MAXCOUNT')
            pieces.append(str(max_count))
        if max_size is not None:
            if not isinstance(max_size, int) or max_size < 1:
                raise DataError('XREADGROUP max_size must be a positive integer')
            pieces.append(b'MAXSIZE')
            pieces.append(str(max_size))
        if block is not None:
            if not isinstance(block, int) or block < 0:
                raise DataError('XREADGROUP block must be a non-negative integer')
            pieces.append(b'BLOCK')
            pieces.append(str(block))
        if noack:
            pieces.append(b'NOACK')
        if claim_min_idle_time is not None:
            if not isinstance(claim_min_idle_time, int) or claim_min_idle_time < 0:
                raise DataError('XREADGROUP claim_min_idle_time must be a non-negative integer')
            pieces.append(b'CLAIM')
            pieces.append(claim_min_idle_time)
            options['claim_min_idle_time'] = claim_min_idle_time
        if not isinstance(streams, dict) or len(streams) == 0:
            raise DataError('XREADGROUP streams must be a non empty dict')
        pieces.append(b'STREAMS')
        pieces.extend(streams.keys())
        pieces.extend(streams.values())
        # (redis-py also feeds its observability recorder the streaming lag here; nestdb has none)
        return self.execute_command('XREADGROUP', *pieces, **options)

    def xrevrange(self, name: KeyT, max: StreamIdT='+', min: StreamIdT='-', count: int | None=None) -> StreamRangeResponse | None:
        """Read stream values within an interval, in reverse order.

        name: name of the stream

        start: first stream ID. defaults to '+',
               meaning the latest available.

        finish: last stream ID. defaults to '-',
                meaning the earliest available.

        count: if set, only return this many items, beginning with the
               latest available.

        For more information, see https://redis.io/commands/xrevrange"""
        pieces: list[EncodableT] = [max, min]
        if count is not None:
            if not isinstance(count, int) or count < 1:
                raise DataError('XREVRANGE count must be a positive integer')
            pieces.append(b'COUNT')
            pieces.append(str(count))
        return self.execute_command('XREVRANGE', name, *pieces, keys=[name])

    def xtrim(self, name: KeyT, maxlen: int | None=None, approximate: bool=True, minid: StreamIdT | None=None, limit: int | None=None, ref_policy: Literal['KEEPREF', 'DELREF', 'ACKED'] | None=None) -> int:
        """Trims old messages from a stream.
        name: name of the stream.
        maxlen: truncate old stream messages beyond this size
        Can't be specified with minid.
        approximate: actual stream length may be slightly more than maxlen
        minid: the minimum id in the stream to query
        Can't be specified with maxlen.
        limit: specifies the maximum number of entries to retrieve
        ref_policy: optional reference policy for consumer groups:
            - KEEPREF (default): Trims entries but preserves references in consumer groups' PEL
            - DELREF: Trims entries and removes all references from consumer groups' PEL
            - ACKED: Only trims entries that were read and acknowledged by all consumer groups

        For more information, see https://redis.io/commands/xtrim"""
        pieces: list[EncodableT] = []
        if maxlen is not None and minid is not None:
            raise DataError('Only one of ``maxlen`` or ``minid`` may be specified')
        if maxlen is None and minid is None:
            raise DataError('One of ``maxlen`` or ``minid`` must be specified')
        if ref_policy is not None and ref_policy not in {'KEEPREF', 'DELREF', 'ACKED'}:
            raise DataError('XTRIM ref_policy must be one of: KEEPREF, DELREF, ACKED')
        if maxlen is not None:
            pieces.append(b'MAXLEN')
        if minid is not None:
            pieces.append(b'MINID')
        if approximate:
            pieces.append(b'~')
        if maxlen is not None:
            pieces.append(maxlen)
        if minid is not None:
            pieces.append(minid)
        if limit is not None:
            pieces.append(b'LIMIT')
            pieces.append(limit)
        if ref_policy is not None:
            pieces.append(ref_policy)
        return self.execute_command('XTRIM', name, *pieces)

    # --- redis-py SortedSetCommands ---

    def zadd(self, name: KeyT, mapping: Mapping[AnyKeyT, EncodableT], nx: bool=False, xx: bool=False, ch: bool=False, incr: bool=False, gt: bool=False, lt: bool=False) -> int | float | None:
        """Set any number of element-name, score pairs to the key ``name``. Pairs
        are specified as a dict of element-names keys to score values."""
        if not mapping:
            raise DataError('ZADD requires at least one element/score pair')
        if nx and xx:
            raise DataError("ZADD allows either 'nx' or 'xx', not both")
        if gt and lt:
            raise DataError("ZADD allows either 'gt' or 'lt', not both")
        if incr and len(mapping) != 1:
            raise DataError("ZADD option 'incr' only works when passing a single element/score pair")
        if nx and (gt or lt):
            raise DataError("Only one of 'nx', 'lt', or 'gr' may be defined.")
        pieces: list[EncodableT] = []
        options = {}
        if nx:
            pieces.append(b'NX')
        if xx:
            pieces.append(b'XX')
        if ch:
            pieces.append(b'CH')
        if incr:
            pieces.append(b'INCR')
            options['as_score'] = True
        if gt:
            pieces.append(b'GT')
        if lt:
            pieces.append(b'LT')
        for pair in mapping.items():
            pieces.append(pair[1])
            pieces.append(pair[0])
        return self.execute_command('ZADD', name, *pieces, **options)

    def zcard(self, name: KeyT) -> int:
        """Return the number of elements in the sorted set ``name``"""
        return self.execute_command('ZCARD', name, keys=[name])

    def zcount(self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT) -> int:
        """Returns the number of elements in the sorted set at key ``name`` with
        a score between ``min`` and ``max``."""
        return self.execute_command('ZCOUNT', name, min, max, keys=[name])

    def zdiff(self, keys: KeysT, withscores: bool=False) -> ZSetRangeResponse:
        """Returns the difference between the first and all successive input
        sorted sets provided in ``keys``."""
        pieces = [len(keys), *keys]
        if withscores:
            pieces.append('WITHSCORES')
        return self.execute_command('ZDIFF', *pieces, keys=keys, withscores=withscores)

    def zdiffstore(self, dest: KeyT, keys: KeysT) -> int:
        """Computes the difference between the first and all successive input
        sorted sets provided in ``keys`` and stores the result in ``dest``."""
        pieces = [len(keys), *keys]
        return self.execute_command('ZDIFFSTORE', dest, *pieces)

    def zincrby(self, name: KeyT, amount: float, value: EncodableT) -> float | None:
        """Increment the score of ``value`` in sorted set ``name`` by ``amount``"""
        return self.execute_command('ZINCRBY', name, amount, value)

    def zinter(self, keys: KeysT, aggregate: str | None=None, withscores: bool=False) -> ZSetRangeResponse:
        """Return the intersect of multiple sorted sets specified by ``keys``."""
        return self._zaggregate('ZINTER', None, keys, aggregate, withscores=withscores)

    def zinterstore(self, dest: KeyT, keys: Sequence[KeyT] | Mapping[AnyKeyT, float], aggregate: str | None=None):
        """Intersect multiple sorted sets specified by ``keys`` into a new
        sorted set, ``dest``. Scores in the destination will be aggregated
        based on the ``aggregate``."""
        return self._zaggregate('ZINTERSTORE', dest, keys, aggregate)

    def zintercard(self, numkeys: int, keys: List[str], limit: int=0) -> int:
        """Return the cardinality of the intersect of multiple sorted sets
        specified by ``keys``.
        When LIMIT provided (defaults to 0 and means unlimited), if the intersection
        cardinality reaches limit partway through the computation, the algorithm will
        exit and yield limit as the cardinality"""
        args = [numkeys, *keys, 'LIMIT', limit]
        return self.execute_command('ZINTERCARD', *args, keys=keys)

    def zlexcount(self, name: KeyT, min: EncodableT, max: EncodableT) -> int:
        """Return the number of items in the sorted set ``name`` between the
        lexicographical range ``min`` and ``max``."""
        return self.execute_command('ZLEXCOUNT', name, min, max, keys=[name])

    def zpopmax(self, name: KeyT, count: int | None=None) -> ZSetRangeResponse:
        """Remove and return up to ``count`` members with the highest scores
        from the sorted set ``name``."""
        args = count is not None and [count] or []
        options = {'withscores': True}
        return self.execute_command('ZPOPMAX', name, *args, **options)

    def zpopmin(self, name: KeyT, count: int | None=None) -> ZSetRangeResponse:
        """Remove and return up to ``count`` members with the lowest scores
        from the sorted set ``name``."""
        args = count is not None and [count] or []
        options = {'withscores': True}
        return self.execute_command('ZPOPMIN', name, *args, **options)

    def zrandmember(self, key: KeyT, count: int | None=None, withscores: bool=False) -> ZRandMemberResponse:
        """Return a random element from the sorted set value stored at key."""
        params = []
        if count is not None:
            params.append(count)
        if withscores:
            params.append('WITHSCORES')
        return self.execute_command('ZRANDMEMBER', key, *params, withscores=withscores)

    def bzpopmax(self, keys: KeysT, timeout: TimeoutSecT=0) -> BlockingZSetPopResponse:
        """ZPOPMAX a value off of the first non-empty sorted set
        named in the ``keys`` list."""
        if timeout is None:
            timeout = 0
        keys = list_or_args(keys, None)
        keys.append(timeout)
        return self.execute_command('BZPOPMAX', *keys)

    def bzpopmin(self, keys: KeysT, timeout: TimeoutSecT=0) -> BlockingZSetPopResponse:
        """ZPOPMIN a value off of the first non-empty sorted set
        named in the ``keys`` list."""
        if timeout is None:
            timeout = 0
        keys: list[EncodableT] = list_or_args(keys, None)
        keys.append(timeout)
        return self.execute_command('BZPOPMIN', *keys)

    def zmpop(self, num_keys: int, keys: List[str], min: bool | None=False, max: bool | None=False, count: int | None=1) -> ZMPopResponse:
        """Pop ``count`` values (default 1) off of the first non-empty sorted set
        named in the ``keys`` list.
        For more information, see https://redis.io/commands/zmpop"""
        args = [num_keys] + keys
        if min and max or (not min and (not max)):
            raise DataError
        elif min:
            args.append('MIN')
        else:
            args.append('MAX')
        if count != 1:
            args.extend(['COUNT', count])
        return self.execute_command('ZMPOP', *args)

    def bzmpop(self, timeout: float, numkeys: int, keys: List[str], min: bool | None=False, max: bool | None=False, count: int | None=1) -> ZMPopResponse:
        """Pop ``count`` values (default 1) off of the first non-empty sorted set
        named in the ``keys`` list."""
        args = [timeout, numkeys, *keys]
        if min and max or (not min and (not max)):
            raise DataError('Either min or max, but not both must be set')
        elif min:
            args.append('MIN')
        else:
            args.append('MAX')
        args.extend(['COUNT', count])
        return self.execute_command('BZMPOP', *args)

    def _zrange(self, command, dest: Union[KeyT, None], name: KeyT, start: EncodableT, end: EncodableT, desc: bool=False, byscore: bool=False, bylex: bool=False, withscores: bool=False, score_cast_func: Union[type, Callable, None]=float, offset: Optional[int]=None, num: Optional[int]=None) -> ResponseT:
        if byscore and bylex:
            raise DataError('``byscore`` and ``bylex`` can not be specified together.')
        if offset is not None and num is None or (num is not None and offset is None):
            raise DataError('``offset`` and ``num`` must both be specified.')
        if bylex and withscores:
            raise DataError('``withscores`` not supported in combination with ``bylex``.')
        pieces = [command]
        if dest:
            pieces.append(dest)
        pieces.extend([name, start, end])
        if byscore:
            pieces.append('BYSCORE')
        if bylex:
            pieces.append('BYLEX')
        if desc:
            pieces.append('REV')
        if offset is not None and num is not None:
            pieces.extend(['LIMIT', offset, num])
        if withscores:
            pieces.append('WITHSCORES')
        options = {'withscores': withscores, 'score_cast_func': score_cast_func}
        options['keys'] = [name]
        return self.execute_command(*pieces, **options)

    def zrange(self, name: KeyT, start: EncodableT, end: EncodableT, desc: bool=False, withscores: bool=False, score_cast_func: type | Callable=float, byscore: bool=False, bylex: bool=False, offset: int | None=None, num: int | None=None) -> ZSetRangeResponse:
        """Return a range of values from sorted set ``name`` between
        ``start`` and ``end`` sorted in ascending order."""
        if not byscore and (not bylex) and (offset is None and num is None) and desc:
            return self.zrevrange(name, start, end, withscores, score_cast_func)
        return self._zrange('ZRANGE', None, name, start, end, desc, byscore, bylex, withscores, score_cast_func, offset, num)

    def zrevrange(self, name: KeyT, start: int, end: int, withscores: bool=False, score_cast_func: type | Callable=float) -> ZSetRangeResponse:
        """Return a range of values from sorted set ``name`` between
        ``start`` and ``end`` sorted in descending order."""
        pieces = ['ZREVRANGE', name, start, end]
        if withscores:
            pieces.append(b'WITHSCORES')
        options = {'withscores': withscores, 'score_cast_func': score_cast_func}
        options['keys'] = name
        return self.execute_command(*pieces, **options)

    def zrangestore(self, dest: KeyT, name: KeyT, start: EncodableT, end: EncodableT, byscore: bool=False, bylex: bool=False, desc: bool=False, offset: int | None=None, num: int | None=None) -> int:
        """Stores in ``dest`` the result of a range of values from sorted set
        ``name`` between ``start`` and ``end`` sorted in ascending order."""
        return self._zrange('ZRANGESTORE', dest, name, start, end, desc, byscore, bylex, False, None, offset, num)

    def zrangebylex(self, name: KeyT, min: EncodableT, max: EncodableT, start: int | None=None, num: int | None=None) -> list[bytes | str]:
        """Return the lexicographical range of values from sorted set ``name``
        between ``min`` and ``max``."""
        if start is not None and num is None or (num is not None and start is None):
            raise DataError('``start`` and ``num`` must both be specified')
        pieces = ['ZRANGEBYLEX', name, min, max]
        if start is not None and num is not None:
            pieces.extend([b'LIMIT', start, num])
        return self.execute_command(*pieces, keys=[name])

    def zrevrangebylex(self, name: KeyT, max: EncodableT, min: EncodableT, start: int | None=None, num: int | None=None) -> list[bytes | str]:
        """Return the reversed lexicographical range of values from sorted set
        ``name`` between ``max`` and ``min``."""
        if start is not None and num is None or (num is not None and start is None):
            raise DataError('``start`` and ``num`` must both be specified')
        pieces = ['ZREVRANGEBYLEX', name, max, min]
        if start is not None and num is not None:
            pieces.extend(['LIMIT', start, num])
        return self.execute_command(*pieces, keys=[name])

    def zrangebyscore(self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT, start: int | None=None, num: int | None=None, withscores: bool=False, score_cast_func: type | Callable=float) -> ZSetRangeResponse:
        """Return a range of values from the sorted set ``name`` with scores
        between ``min`` and ``max``."""
        if start is not None and num is None or (num is not None and start is None):
            raise DataError('``start`` and ``num`` must both be specified')
        pieces = ['ZRANGEBYSCORE', name, min, max]
        if start is not None and num is not None:
            pieces.extend(['LIMIT', start, num])
        if withscores:
            pieces.append('WITHSCORES')
        options = {'withscores': withscores, 'score_cast_func': score_cast_func}
        options['keys'] = [name]
        return self.execute_command(*pieces, **options)

    def zrevrangebyscore(self, name: KeyT, max: ZScoreBoundT, min: ZScoreBoundT, start: int | None=None, num: int | None=None, withscores: bool=False, score_cast_func: type | Callable=float) -> ZSetRangeResponse:
        """Return a range of values from the sorted set ``name`` with scores
        between ``min`` and ``max`` in descending order."""
        if start is not None and num is None or (num is not None and start is None):
            raise DataError('``start`` and ``num`` must both be specified')
        pieces = ['ZREVRANGEBYSCORE', name, max, min]
        if start is not None and num is not None:
            pieces.extend(['LIMIT', start, num])
        if withscores:
            pieces.append('WITHSCORES')
        options = {'withscores': withscores, 'score_cast_func': score_cast_func}
        options['keys'] = [name]
        return self.execute_command(*pieces, **options)

    def zrank(self, name: KeyT, value: EncodableT, withscore: bool=False, score_cast_func: type | Callable=float) -> int | list[Any] | None:
        """Returns a 0-based value indicating the rank of ``value`` in sorted set
        ``name``.
        The optional WITHSCORE argument supplements the command's
        reply with the score of the element returned."""
        pieces = ['ZRANK', name, value]
        if withscore:
            pieces.append('WITHSCORE')
        options = {'withscore': withscore, 'score_cast_func': score_cast_func}
        return self.execute_command(*pieces, **options)

    def zrem(self, name: KeyT, *values: FieldT) -> int:
        """Remove member ``values`` from sorted set ``name``"""
        return self.execute_command('ZREM', name, *values)

    def zremrangebylex(self, name: KeyT, min: EncodableT, max: EncodableT) -> int:
        """Remove all elements in the sorted set ``name`` between the
        lexicographical range specified by ``min`` and ``max``."""
        return self.execute_command('ZREMRANGEBYLEX', name, min, max)

    def zremrangebyrank(self, name: KeyT, min: int, max: int) -> int:
        """Remove all elements in the sorted set ``name`` with ranks between
        ``min`` and ``max``. Values are 0-based, ordered from smallest score
        to largest. Values can be negative indicating the highest scores.
        Returns the number of elements removed"""
        return self.execute_command('ZREMRANGEBYRANK', name, min, max)

    def zremrangebyscore(self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT) -> int:
        """Remove all elements in the sorted set ``name`` with scores
        between ``min`` and ``max``. Returns the number of elements removed."""
        return self.execute_command('ZREMRANGEBYSCORE', name, min, max)

    def zrevrank(self, name: KeyT, value: EncodableT, withscore: bool=False, score_cast_func: type | Callable=float) -> int | list[Any] | None:
        """Returns a 0-based value indicating the descending rank of
        ``value`` in sorted set ``name``.
        The optional ``withscore`` argument supplements the command's
        reply with the score of the element returned."""
        pieces = ['ZREVRANK', name, value]
        if withscore:
            pieces.append('WITHSCORE')
        options = {'withscore': withscore, 'score_cast_func': score_cast_func}
        return self.execute_command(*pieces, **options)

    def zscore(self, name: KeyT, value: EncodableT) -> float | None:
        """Return the score of element ``value`` in sorted set ``name``"""
        return self.execute_command('ZSCORE', name, value, keys=[name])

    def zunion(self, keys: Sequence[KeyT] | Mapping[AnyKeyT, float], aggregate: str | None=None, withscores: bool=False, score_cast_func: type | Callable=float) -> ZSetRangeResponse:
        """Return the union of multiple sorted sets specified by ``keys``.
        ``keys`` can be provided as dictionary of keys and their weights.
        Scores will be aggregated based on the ``aggregate``, or SUM if
        none is provided."""
        return self._zaggregate('ZUNION', None, keys, aggregate, withscores=withscores, score_cast_func=score_cast_func)

    def zunionstore(self, dest: KeyT, keys: Sequence[KeyT] | Mapping[AnyKeyT, float], aggregate: str | None=None) -> int:
        """Union multiple sorted sets specified by ``keys`` into
        a new sorted set, ``dest``. Scores in the destination will be
        aggregated based on the ``aggregate``, or SUM if none is provided."""
        return self._zaggregate('ZUNIONSTORE', dest, keys, aggregate)

    def zmscore(self, key: KeyT, members: List[str]) -> list[float | None]:
        """Returns the scores associated with the specified members
        in the sorted set stored at key.
        ``members`` should be a list of the member name.
        Return type is a list of score.
        If the member does not exist, a None will be returned
        in corresponding position."""
        if not members:
            raise DataError('ZMSCORE members must be a non-empty list')
        pieces = [key] + members
        return self.execute_command('ZMSCORE', *pieces, keys=[key])

    def _zaggregate(self, command: str, dest: Union[KeyT, None], keys: Union[Sequence[KeyT], Mapping[AnyKeyT, float]], aggregate: Optional[str]=None, **options) -> ResponseT:
        pieces: list[EncodableT] = [command]
        if dest is not None:
            pieces.append(dest)
        pieces.append(len(keys))
        if isinstance(keys, dict):
            keys, weights = (keys.keys(), keys.values())
        else:
            weights = None
        pieces.extend(keys)
        if weights:
            pieces.append(b'WEIGHTS')
            pieces.extend(weights)
        if aggregate:
            if aggregate.upper() in ['SUM', 'MIN', 'MAX', 'COUNT']:
                pieces.append(b'AGGREGATE')
                pieces.append(aggregate)
            else:
                raise DataError('aggregate can be sum, min, max or count.')
        if options.get('withscores', False):
            pieces.append(b'WITHSCORES')
        options['keys'] = keys
        return self.execute_command(*pieces, **options)

    # --- redis-py PubSubCommands ---

    def publish(self, channel: KeyT, message: EncodableT, **kwargs) -> int:
        """Publish ``message`` on ``channel``.
        Returns the number of subscribers the message was delivered to."""
        return self.execute_command('PUBLISH', channel, message, **kwargs)

    def pubsub_channels(self, pattern: PatternT='*', **kwargs) -> list[bytes | str]:
        """Return a list of channels that have at least one subscriber"""
        return self.execute_command('PUBSUB CHANNELS', pattern, **kwargs)

    def pubsub_numpat(self, **kwargs) -> int:
        """Returns the number of subscriptions to patterns"""
        return self.execute_command('PUBSUB NUMPAT', **kwargs)

    def pubsub_numsub(self, *args: KeyT, **kwargs) -> list[tuple[Any, int]]:
        """Return a list of (channel, number of subscribers) tuples
        for each channel given in ``*args``"""
        return self.execute_command('PUBSUB NUMSUB', *args, **kwargs)

    def pubsub(self, **kwargs) -> Any:
        """Return a Publish/Subscribe object. With this object, you can
        subscribe to channels and listen for messages that get published to
        them (within this process: nestdb has no server)."""
        from .pubsub import PubSub

        return PubSub(self, **kwargs)

    # --- redis-py ScriptCommands ---

    def eval(self, script: str, numkeys: int, *keys_and_args: str) -> Any:
        """Execute the Lua ``script``, specifying the ``numkeys`` the script
        will touch and the key names and argument values in ``keys_and_args``.
        Returns the result of the script.

        In practice, use the object returned by ``register_script``. This
        function exists purely for Redis API completion."""
        return self.execute_command('EVAL', script, numkeys, *keys_and_args)

    def eval_ro(self, script: str, numkeys: int, *keys_and_args: str) -> Any:
        """The read-only variant of the EVAL command"""
        return self.execute_command('EVAL_RO', script, numkeys, *keys_and_args)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: str) -> Any:
        """Use the ``sha`` to execute a Lua script already registered via EVAL
        or SCRIPT LOAD. Specify the ``numkeys`` the script will touch and the
        key names and argument values in ``keys_and_args``. Returns the result
        of the script."""
        return self.execute_command('EVALSHA', sha, numkeys, *keys_and_args)

    def evalsha_ro(self, sha: str, numkeys: int, *keys_and_args: str) -> Any:
        """The read-only variant of the EVALSHA command"""
        return self.execute_command('EVALSHA_RO', sha, numkeys, *keys_and_args)

    def script_exists(self, *args: str) -> list[bool]:
        """Check if a script exists in the script cache by specifying the SHAs of
        each script as ``args``. Returns a list of boolean values indicating if
        if each already script exists in the cache_data."""
        return self.execute_command('SCRIPT EXISTS', *args)

    def script_debug(self, *args) -> None:
        raise NotImplementedError('SCRIPT DEBUG is intentionally not implemented in the client.')

    def script_flush(self, sync_type: Union[Literal['SYNC'], Literal['ASYNC']] | None=None) -> bool:
        """Flush all scripts from the script cache.

        ``sync_type`` is by default SYNC (synchronous) but it can also be
                      ASYNC."""
        if sync_type not in ['SYNC', 'ASYNC', None]:
            raise DataError("SCRIPT FLUSH defaults to SYNC in redis > 6.2, or accepts SYNC/ASYNC. For older versions, of redis leave as None.")
        pieces = [] if sync_type is None else [sync_type]
        return self.execute_command('SCRIPT FLUSH', *pieces)

    def script_kill(self) -> bool:
        """Kill the currently executing Lua script"""
        return self.execute_command('SCRIPT KILL')

    def script_load(self, script: str) -> str:
        """Load a Lua ``script`` into the script cache_data. Returns the SHA."""
        return self.execute_command('SCRIPT LOAD', script)

    def register_script(self, script: str) -> 'Script':
        """Register a Lua ``script`` specifying the ``keys`` it will touch.
        Returns a Script object that is callable and hides the complexity of
        deal with scripts, keys, and shas. This is the preferred way to work
        with Lua scripts."""
        return Script(self, script)

    # --- redis-py FunctionCommands ---

    def function_load(self, code: str, replace: bool | None=False) -> bytes | str:
        """Load a library to Redis.
        :param code: the source code (must start with
        Shebang statement that provides a metadata about the library)
        :param replace: changes the behavior to overwrite the existing library
        with the new contents.
        Return the library name that was loaded."""
        pieces = ['REPLACE'] if replace else []
        pieces.append(code)
        return self.execute_command('FUNCTION LOAD', *pieces)

    def function_delete(self, library: str) -> bool:
        """Delete the library called ``library`` and all its functions."""
        return self.execute_command('FUNCTION DELETE', library)

    def function_flush(self, mode: str='SYNC') -> bool:
        """Deletes all the libraries."""
        return self.execute_command('FUNCTION FLUSH', mode)

    def function_list(self, library: str | None='*', withcode: bool | None=False) -> list[Any]:
        """Return information about the functions and libraries.

        ``library``: a pattern for matching library names; ``withcode``: include
        the libraries' source code in the reply."""
        args = ['LIBRARYNAME', library]
        if withcode:
            args.append('WITHCODE')
        return self.execute_command('FUNCTION LIST', *args)

    def _fcall(self, command: str, function, numkeys: int, *keys_and_args: Any) -> Any:
        return self.execute_command(command, function, numkeys, *keys_and_args)

    def fcall(self, function, numkeys: int, *keys_and_args: Any) -> Any:
        """Invoke a function."""
        return self._fcall('FCALL', function, numkeys, *keys_and_args)

    def fcall_ro(self, function, numkeys: int, *keys_and_args: Any) -> Any:
        """This is a read-only variant of the FCALL command that cannot
        execute commands that modify data."""
        return self._fcall('FCALL_RO', function, numkeys, *keys_and_args)

    def function_dump(self) -> bytes:
        """Return the serialized payload of loaded libraries (always bytes)."""
        options = {}
        options[NEVER_DECODE] = []
        return self.execute_command('FUNCTION DUMP', **options)

    def function_restore(self, payload: str, policy: str | None='APPEND') -> bool:
        """Restore libraries from the serialized ``payload``.
        You can use the optional policy argument to provide a policy
        for handling existing libraries."""
        return self.execute_command('FUNCTION RESTORE', payload, policy)

    def function_kill(self) -> bytes | str:
        """Kill a function that is currently executing."""
        return self.execute_command('FUNCTION KILL')

    def function_stats(self) -> Any:
        """Return information about the function that's currently running
        and information about the available execution engines."""
        return self.execute_command('FUNCTION STATS')

    # --- redis-py GeoCommands ---

    def geoadd(self, name: KeyT, values: Sequence[EncodableT], nx: bool=False, xx: bool=False, ch: bool=False) -> int:
        """Add the specified geospatial items to the specified key identified
        by the ``name`` argument. The Geospatial items are given as ordered
        members of the ``values`` argument, each item or place is formed by
        the triad longitude, latitude and name.

        Note: You can use ZREM to remove elements.

        ``nx`` forces ZADD to only create new elements and not to update
        scores for elements that already exist.

        ``xx`` forces ZADD to only update scores of elements that already
        exist. New elements will not be added.

        ``ch`` modifies the return value to be the numbers of elements changed.
        Changed elements include new elements that were added and elements
        whose scores changed.

        For more information, see https://redis.io/commands/geoadd"""
        if nx and xx:
            raise DataError("GEOADD allows either 'nx' or 'xx', not both")
        if len(values) % 3 != 0:
            raise DataError('GEOADD requires places with lon, lat and name values')
        pieces = [name]
        if nx:
            pieces.append('NX')
        if xx:
            pieces.append('XX')
        if ch:
            pieces.append('CH')
        pieces.extend(values)
        return self.execute_command('GEOADD', *pieces)

    def geodist(self, name: KeyT, place1: FieldT, place2: FieldT, unit: str | None=None) -> float | None:
        """Return the distance between ``place1`` and ``place2`` members of the
        ``name`` key.
        The units must be one of the following : m, km mi, ft. By default
        meters are used.

        For more information, see https://redis.io/commands/geodist"""
        pieces: list[EncodableT] = [name, place1, place2]
        if unit and unit not in ('m', 'km', 'mi', 'ft'):
            raise DataError('GEODIST invalid unit')
        elif unit:
            pieces.append(unit)
        return self.execute_command('GEODIST', *pieces, keys=[name])

    def geohash(self, name: KeyT, *values: FieldT) -> list[bytes | str | None]:
        """Return the geo hash string for each item of ``values`` members of
        the specified key identified by the ``name`` argument.

        For more information, see https://redis.io/commands/geohash"""
        return self.execute_command('GEOHASH', name, *values, keys=[name])

    def geopos(self, name: KeyT, *values: FieldT) -> list[GeoCoordinate | None]:
        """Return the positions of each item of ``values`` as members of
        the specified key identified by the ``name`` argument. Each position
        is represented by the pairs lon and lat.

        For more information, see https://redis.io/commands/geopos"""
        return self.execute_command('GEOPOS', name, *values, keys=[name])

    def georadius(self, name: KeyT, longitude: float, latitude: float, radius: float, unit: str | None=None, withdist: bool=False, withcoord: bool=False, withhash: bool=False, count: int | None=None, sort: str | None=None, store: KeyT | None=None, store_dist: KeyT | None=None, any: bool=False) -> GeoRadiusResponse:
        """Return the members of the specified key identified by the
        ``name`` argument which are within the borders of the area specified
        with the ``latitude`` and ``longitude`` location and the maximum
        distance from the center specified by the ``radius`` value.

        The units must be one of the following : m, km mi, ft. By default

        ``withdist`` indicates to return the distances of each place.

        ``withcoord`` indicates to return the latitude and longitude of
        each place.

        ``withhash`` indicates to return the geohash string of each place.

        ``count`` indicates to return the number of elements up to N.

        ``sort`` indicates to return the places in a sorted way, ASC for
        nearest to fairest and DESC for fairest to nearest.

        ``store`` indicates to save the places names in a sorted set named
        with a specific key, each element of the destination sorted set is
        populated with the score got from the original geo sorted set.

        ``store_dist`` indicates to save the places names in a sorted set
        named with a specific key, instead of ``store`` the sorted set
        destination score is set with the distance.

        For more information, see https://redis.io/commands/georadius"""
        return self._georadiusgeneric('GEORADIUS', name, longitude, latitude, radius, unit=unit, withdist=withdist, withcoord=withcoord, withhash=withhash, count=count, sort=sort, store=store, store_dist=store_dist, any=any)

    def georadiusbymember(self, name: KeyT, member: FieldT, radius: float, unit: str | None=None, withdist: bool=False, withcoord: bool=False, withhash: bool=False, count: int | None=None, sort: str | None=None, store: KeyT | None=None, store_dist: KeyT | None=None, any: bool=False) -> GeoRadiusResponse:
        """This command is exactly like ``georadius`` with the sole difference
        that instead of taking, as the center of the area to query, a longitude
        and latitude value, it takes the name of a member already existing
        inside the geospatial index represented by the sorted set.

        For more information, see https://redis.io/commands/georadiusbymember"""
        return self._georadiusgeneric('GEORADIUSBYMEMBER', name, member, radius, unit=unit, withdist=withdist, withcoord=withcoord, withhash=withhash, count=count, sort=sort, store=store, store_dist=store_dist, any=any)

    def _georadiusgeneric(self, command: str, *args: EncodableT, **kwargs: Union[EncodableT, None]) -> ResponseT:
        pieces = list(args)
        if kwargs['unit'] and kwargs['unit'] not in ('m', 'km', 'mi', 'ft'):
            raise DataError('GEORADIUS invalid unit')
        elif kwargs['unit']:
            pieces.append(kwargs['unit'])
        else:
            pieces.append('m')
        if kwargs['any'] and kwargs['count'] is None:
            raise DataError("``any`` can't be provided without ``count``")
        for arg_name, byte_repr in (('withdist', 'WITHDIST'), ('withcoord', 'WITHCOORD'), ('withhash', 'WITHHASH')):
            if kwargs[arg_name]:
                pieces.append(byte_repr)
        if kwargs['count'] is not None:
            pieces.extend(['COUNT', kwargs['count']])
            if kwargs['any']:
                pieces.append('ANY')
        if kwargs['sort']:
            if kwargs['sort'] == 'ASC':
                pieces.append('ASC')
            elif kwargs['sort'] == 'DESC':
                pieces.append('DESC')
            else:
                raise DataError('GEORADIUS invalid sort')
        if kwargs['store'] and kwargs['store_dist']:
            raise DataError("GEORADIUS store and store_dist can't be set together")
        if kwargs['store']:
            pieces.extend([b'STORE', kwargs['store']])
        if kwargs['store_dist']:
            pieces.extend([b'STOREDIST', kwargs['store_dist']])
        return self.execute_command(command, *pieces, **kwargs)

    def geosearch(self, name: KeyT, member: FieldT | None=None, longitude: float | None=None, latitude: float | None=None, unit: str='m', radius: float | None=None, width: float | None=None, height: float | None=None, sort: str | None=None, count: int | None=None, any: bool=False, withcoord: bool=False, withdist: bool=False, withhash: bool=False) -> GeoSearchResponse:
        """Return the members of specified key identified by the
        ``name`` argument, which are within the borders of the
        area specified by a given shape. This command extends the
        GEORADIUS command, so in addition to searching within circular
        areas, it supports searching within rectangular areas.

        This command should be used in place of the deprecated
        GEORADIUS and GEORADIUSBYMEMBER commands.

        ``member`` Use the position of the given existing
         member in the sorted set. Can't be given with ``longitude``
         and ``latitude``.

        ``longitude`` and ``latitude`` Use the position given by
        this coordinates. Can't be given with ``member``
        ``radius`` Similar to GEORADIUS, search inside circular
        area according the given radius. Can't be given with
        ``height`` and ``width``.
        ``height`` and ``width`` Search inside an axis-aligned
        rectangle, determined by the given height and width.
        Can't be given with ``radius``

        ``unit`` must be one of the following : m, km, mi, ft.
        `m` for meters (the default value), `km` for kilometers,
        `mi` for miles and `ft` for feet.

        ``sort`` indicates to return the places in a sorted way,
        ASC for nearest to furthest and DESC for furthest to nearest.

        ``count`` limit the results to the first count matching items.

        ``any`` is set to True, the command will return as soon as
        enough matches are found. Can't be provided without ``count``

        ``withdist`` indicates to return the distances of each place.
        ``withcoord`` indicates to return the latitude and longitude of
        each place.

        ``withhash`` indicates to return the geohash string of each place.

        For more information, see https://redis.io/commands/geosearch"""
        return self._geosearchgeneric('GEOSEARCH', name, member=member, longitude=longitude, latitude=latitude, unit=unit, radius=radius, width=width, height=height, sort=sort, count=count, any=any, withcoord=withcoord, withdist=withdist, withhash=withhash, store=None, store_dist=None)

    def geosearchstore(self, dest: KeyT, name: KeyT, member: FieldT | None=None, longitude: float | None=None, latitude: float | None=None, unit: str='m', radius: float | None=None, width: float | None=None, height: float | None=None, sort: str | None=None, count: int | None=None, any: bool=False, storedist: bool=False) -> int:
        """This command is like GEOSEARCH, but stores the result in
        ``dest``. By default, it stores the results in the destination
        sorted set with their geospatial information.
        if ``store_dist`` set to True, the command will stores the
        items in a sorted set populated with their distance from the
        center of the circle or box, as a floating-point number.

        For more information, see https://redis.io/commands/geosearchstore"""
        return self._geosearchgeneric('GEOSEARCHSTORE', dest, name, member=member, longitude=longitude, latitude=latitude, unit=unit, radius=radius, width=width, height=height, sort=sort, count=count, any=any, withcoord=None, withdist=None, withhash=None, store=None, store_dist=storedist)

    def _geosearchgeneric(self, command: str, *args: EncodableT, **kwargs: Union[EncodableT, None]) -> ResponseT:
        pieces = list(args)
        if kwargs['member'] is None:
            if kwargs['longitude'] is None or kwargs['latitude'] is None:
                raise DataError('GEOSEARCH must have member or longitude and latitude')
        if kwargs['member']:
            if kwargs['longitude'] or kwargs['latitude']:
                raise DataError("GEOSEARCH member and longitude or latitude can't be set together")
            pieces.extend([b'FROMMEMBER', kwargs['member']])
        if kwargs['longitude'] is not None and kwargs['latitude'] is not None:
            pieces.extend([b'FROMLONLAT', kwargs['longitude'], kwargs['latitude']])
        if kwargs['radius'] is None:
            if kwargs['width'] is None or kwargs['height'] is None:
                raise DataError('GEOSEARCH must have radius or width and height')
        if kwargs['unit'] is None:
            raise DataError('GEOSEARCH must have unit')
        if kwargs['unit'].lower() not in ('m', 'km', 'mi', 'ft'):
            raise DataError('GEOSEARCH invalid unit')
        if kwargs['radius']:
            if kwargs['width'] or kwargs['height']:
                raise DataError("GEOSEARCH radius and width or height can't be set together")
            pieces.extend([b'BYRADIUS', kwargs['radius'], kwargs['unit']])
        if kwargs['width'] and kwargs['height']:
            pieces.extend([b'BYBOX', kwargs['width'], kwargs['height'], kwargs['unit']])
        if kwargs['sort']:
            if kwargs['sort'].upper() == 'ASC':
                pieces.append(b'ASC')
            elif kwargs['sort'].upper() == 'DESC':
                pieces.append(b'DESC')
            else:
                raise DataError('GEOSEARCH invalid sort')
        if kwargs['count']:
            pieces.extend([b'COUNT', kwargs['count']])
            if kwargs['any']:
                pieces.append(b'ANY')
        elif kwargs['any']:
            raise DataError("GEOSEARCH ``any`` can't be provided without count")
        for arg_name, byte_repr in (('withdist', b'WITHDIST'), ('withcoord', b'WITHCOORD'), ('withhash', b'WITHHASH'), ('store_dist', b'STOREDIST')):
            if kwargs[arg_name]:
                pieces.append(byte_repr)
        kwargs['keys'] = [args[0] if command == 'GEOSEARCH' else args[1]]
        return self.execute_command(command, *pieces, **kwargs)

    # --- redis-py sort (ListCommands) ---

    def sort(self, name: KeyT, start: int | None=None, num: int | None=None, by: str | None=None, get: list[str] | None=None, desc: bool=False, alpha: bool=False, store: str | None=None, groups: bool | None=False) -> list | int:
        """
        Sort and return the list, set or sorted set at ``name``.

        ``start`` and ``num`` allow for paging through the sorted data

        ``by`` allows using an external key to weight and sort the items.
            Use an "*" to indicate where in the key the item value is located

        ``get`` allows for returning items from external keys rather than the
            sorted data itself.  Use an "*" to indicate where in the key
            the item value is located

        ``desc`` allows for reversing the sort

        ``alpha`` allows for sorting lexicographically rather than numerically

        ``store`` allows for storing the result of the sort into
            the key ``store``

        ``groups`` if set to True and if ``get`` contains at least two
            elements, sort will return a list of tuples, each containing the
            values fetched from the arguments to ``get``.
        """
        if (start is not None and num is None) or (num is not None and start is None):
            raise DataError('``start`` and ``num`` must both be specified')
        pieces: list = [name]
        if by is not None:
            pieces.extend([b'BY', by])
        if start is not None and num is not None:
            pieces.extend([b'LIMIT', start, num])
        if get is not None:
            # A string is one pattern; anything else is an iterable of them.
            if isinstance(get, (bytes, str)):
                pieces.extend([b'GET', get])
            else:
                for g in get:
                    pieces.extend([b'GET', g])
        if desc:
            pieces.append(b'DESC')
        if alpha:
            pieces.append(b'ALPHA')
        if store is not None:
            pieces.extend([b'STORE', store])
        if groups:
            if not get or isinstance(get, (bytes, str)) or len(get) < 2:
                raise DataError('when using "groups" the "get" argument must be specified and contain at least two keys')
        options = {'groups': len(get) if groups else None}
        options['keys'] = [name]
        return self.execute_command('SORT', *pieces, **options)

    def sort_ro(self, key: str, start: int | None=None, num: int | None=None, by: str | None=None, get: list[str] | None=None, desc: bool=False, alpha: bool=False) -> list:
        """
        Returns the elements contained in the list, set or sorted set at key.
        (read-only variant of the SORT command; as redis-py, it sends SORT without STORE)
        """
        return self.sort(key, start=start, num=num, by=by, get=get, desc=desc, alpha=alpha)

    # --- redis-py HashCommands ---

    def hdel(self, name: KeyT, *keys: FieldT) -> int:
        """Delete ``keys`` from hash ``name``"""
        return self.execute_command('HDEL', name, *keys)

    def hexists(self, name: KeyT, key: FieldT) -> bool:
        """Returns a boolean indicating if ``key`` exists within hash ``name``"""
        return self.execute_command('HEXISTS', name, key, keys=[name])

    def hget(self, name: KeyT, key: FieldT) -> bytes | str | None:
        """Return the value of ``key`` within the hash ``name``"""
        return self.execute_command('HGET', name, key, keys=[name])

    def hgetall(self, name: KeyT) -> dict[bytes | str, bytes | str]:
        """Return a Python dict of the hash's name/value pairs"""
        return self.execute_command('HGETALL', name, keys=[name])

    def hincrby(self, name: KeyT, key: FieldT, amount: int=1) -> int:
        """Increment the value of ``key`` in hash ``name`` by ``amount``"""
        return self.execute_command('HINCRBY', name, key, amount)

    def hincrbyfloat(self, name: KeyT, key: FieldT, amount: float=1.0) -> float:
        """Increment the value of ``key`` in hash ``name`` by floating ``amount``"""
        return self.execute_command('HINCRBYFLOAT', name, key, amount)

    def hkeys(self, name: KeyT) -> list[bytes | str]:
        """Return the list of keys within hash ``name``"""
        return self.execute_command('HKEYS', name, keys=[name])

    def hlen(self, name: KeyT) -> int:
        """Return the number of elements in hash ``name``"""
        return self.execute_command('HLEN', name, keys=[name])

    def hset(self, name: KeyT, key: FieldT | None=None, value: EncodableT | None=None, mapping: Mapping[FieldT, EncodableT] | None=None, items: Sequence[EncodableT] | None=None) -> int:
        """Set ``key`` to ``value`` within hash ``name``,
        ``mapping`` accepts a dict of key/value pairs that will be
        added to hash ``name``.
        ``items`` accepts a list of key/value pairs that will be
        added to hash ``name``.
        Returns the number of fields that were added."""
        if key is None and (not mapping) and (not items):
            raise DataError("'hset' with no key value pairs")
        pieces = []
        if items:
            pieces.extend(items)
        if key is not None:
            pieces.extend((key, value))
        if mapping:
            for pair in mapping.items():
                pieces.extend(pair)
        return self.execute_command('HSET', name, *pieces)

    def hsetnx(self, name: KeyT, key: FieldT, value: EncodableT) -> int:
        """Set ``key`` to ``value`` within hash ``name`` if ``key`` does not
        exist.  Returns 1 if HSETNX created a field, otherwise 0."""
        return self.execute_command('HSETNX', name, key, value)

    def hmset(self, name: KeyT, mapping: Mapping[FieldT, EncodableT]) -> bool:
        """Set key to value within hash ``name`` for each corresponding
        key and value from the ``mapping`` dict."""
        if not mapping:
            raise DataError("'hmset' with 'mapping' of length 0")
        items = []
        for pair in mapping.items():
            items.extend(pair)
        return self.execute_command('HMSET', name, *items)

    def hmget(self, name: KeyT, keys: FieldT | Iterable[FieldT], *args: FieldT) -> list[bytes | str | None]:
        """Returns a list of values ordered identically to ``keys``"""
        args = list_or_args(keys, args)
        return self.execute_command('HMGET', name, *args, keys=[name])

    def hvals(self, name: KeyT) -> list[bytes | str]:
        """Return the list of values within hash ``name``"""
        return self.execute_command('HVALS', name, keys=[name])

    def hstrlen(self, name: KeyT, key: FieldT) -> int:
        """Return the number of bytes stored in the value of ``key``
        within hash ``name``"""
        return self.execute_command('HSTRLEN', name, key, keys=[name])



class BitFieldOperation:
    """Command builder for BITFIELD commands (redis-py's ``BitFieldOperation``): queue GET,
    SET, INCRBY and OVERFLOW operations, then ``execute()`` runs them as one BITFIELD command
    (in a pipeline, its result comes with the pipeline's)."""

    def __init__(self, client: Any, key: KeyT, default_overflow: Optional[str] = None) -> None:
        self.client = client
        self.key = key
        self._default_overflow = default_overflow
        self.operations: List[Tuple[EncodableT, ...]] = []
        self._last_overflow = 'WRAP'
        self.reset()

    def reset(self) -> None:
        """Reset the state of the instance to when it was constructed"""
        self.operations = []
        self._last_overflow = 'WRAP'
        self.overflow(self._default_overflow or self._last_overflow)

    def overflow(self, overflow: str) -> 'BitFieldOperation':
        """Update the overflow algorithm of successive INCRBY operations"""
        overflow = overflow.upper()
        if overflow != self._last_overflow:
            self._last_overflow = overflow
            self.operations.append(('OVERFLOW', overflow))
        return self

    def incrby(self, fmt: str, offset: BitfieldOffsetT, increment: int, overflow: Optional[str] = None) -> 'BitFieldOperation':
        """Increment a bitfield by a given amount."""
        if overflow is not None:
            self.overflow(overflow)
        self.operations.append(('INCRBY', fmt, offset, increment))
        return self

    def get(self, fmt: str, offset: BitfieldOffsetT) -> 'BitFieldOperation':
        """Get the value of a given bitfield."""
        self.operations.append(('GET', fmt, offset))
        return self

    def set(self, fmt: str, offset: BitfieldOffsetT, value: int) -> 'BitFieldOperation':
        """Set the value of a given bitfield."""
        self.operations.append(('SET', fmt, offset, value))
        return self

    @property
    def command(self) -> List[Any]:
        cmd: List[Any] = ['BITFIELD', self.key]
        for ops in self.operations:
            cmd.extend(ops)
        return cmd

    def execute(self) -> ResponseT:
        """Execute the operation(s) in a single BITFIELD command. The return value
        is a list of values corresponding to each operation."""
        command = self.command
        self.reset()
        return self.client.execute_command(*command)


class Script:
    """An executable Lua script object returned by ``register_script`` (redis-py's
    ``redis.commands.core.Script``): called with ``keys`` and ``args``, it runs EVALSHA and
    loads the script on ``NoScriptError``. In a pipeline it queues EVAL with the script's
    text instead (the result is the same, and no NOSCRIPT error can surface at execute)."""

    def __init__(self, registered_client: Any, script: Union[str, bytes]) -> None:
        import hashlib

        self.registered_client = registered_client
        self.script = script
        encoded = script.encode('utf-8') if isinstance(script, str) else script
        self.sha = hashlib.sha1(encoded).hexdigest()

    def __call__(self, keys: Optional[Sequence[Any]] = None, args: Optional[Iterable[Any]] = None, client: Any = None) -> Any:
        """Execute the script, passing any required ``args``"""
        from .exceptions import NoScriptError

        keys = keys or []
        args = args or []
        if client is None:
            client = self.registered_client
        args = tuple(keys) + tuple(args)
        if hasattr(client, '_pipe_len'):
            return client.eval(self.script, len(keys), *args)
        try:
            return client.evalsha(self.sha, len(keys), *args)
        except NoScriptError:
            # Maybe the client was pointed at another database, or the cache was flushed.
            self.sha = client.script_load(self.script)
            return client.evalsha(self.sha, len(keys), *args)
