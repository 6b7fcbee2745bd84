"""Response callbacks written in Python (the common ones are native, in ``reply.rs``).

Same functions as redis-py's ``redis._parsers.helpers`` for the commands nestdb implements;
``CALLBACKS`` is installed into the native module at import.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, Dict, List, Optional, Tuple, Union


def str_if_bytes(value: Union[str, bytes]) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def parse_info(response: Any) -> Dict[str, Any]:
    """Parse the result of INFO into a dict (redis-py ``parse_info``)."""
    info: Dict[str, Any] = {}
    response = str_if_bytes(response)

    def get_value(value: str) -> Any:
        if "," not in value and "=" not in value:
            try:
                if "." in value:
                    return float(value)
                else:
                    return int(value)
            except ValueError:
                return value
        elif "=" not in value:
            return [get_value(v) for v in value.split(",") if v]
        else:
            sub_dict: Dict[str, Any] = {}
            for item in value.split(","):
                if not item:
                    continue
                if "=" in item:
                    k, v = item.rsplit("=", 1)
                    sub_dict[k] = get_value(v)
                else:
                    sub_dict[item] = True
            return sub_dict

    for line in response.splitlines():
        if line and not line.startswith("#"):
            if line.find(":") != -1:
                key, value = line.split(":", 1)
                if key == "cmdstat_host":
                    key, value = line.rsplit(":", 1)
                if key == "module":
                    info.setdefault("modules", []).append(get_value(value))
                else:
                    info[key] = get_value(value)
            else:
                info.setdefault("__raw__", []).append(line)
    return info


def parse_command(response: Any, **options: Any) -> Dict[str, Any]:
    """COMMAND -> {name: details} (redis-py ``parse_command``)."""
    commands: Dict[str, Any] = {}
    for command in response:
        cmd_dict: Dict[str, Any] = {}
        cmd_name = str_if_bytes(command[0])
        cmd_dict["name"] = cmd_name
        cmd_dict["arity"] = int(command[1])
        cmd_dict["flags"] = [str_if_bytes(flag) for flag in command[2]]
        cmd_dict["first_key_pos"] = command[3]
        cmd_dict["last_key_pos"] = command[4]
        cmd_dict["step_count"] = command[5]
        if len(command) > 6:
            cmd_dict["acl_categories"] = [str_if_bytes(category) for category in command[6]]
        if len(command) > 7:
            cmd_dict["tips"] = command[7]
            cmd_dict["key_specifications"] = command[8]
            cmd_dict["subcommands"] = command[9]
        commands[cmd_name] = cmd_dict
    return commands


def timestamp_to_datetime(response: Any, **options: Any) -> Optional[datetime.datetime]:
    """LASTSAVE: a Unix timestamp -> a local naive datetime; 0 (never saved) -> None
    (redis-py ``timestamp_to_datetime``)."""
    if not response:
        return None
    try:
        response = int(response)
    except ValueError:
        return None
    return datetime.datetime.fromtimestamp(response)


def _true(response: Any, **options: Any) -> bool:
    """BGSAVE, BGREWRITEAOF: redis-py returns True (an error reply raises instead)."""
    return True


def _str_list(response: Any, **options: Any) -> List[str]:
    return [str_if_bytes(r) for r in response]


def _bool_ok(response: Any, **options: Any) -> bool:
    """MEMORY PURGE, SCRIPT FLUSH, FUNCTION FLUSH...: ``True`` for OK (redis-py ``bool_ok``)."""
    return str_if_bytes(response) == "OK"


def parse_memory_stats(response: Any, **options: Any) -> Dict[str, Any]:
    """MEMORY STATS -> ``{str: value}``, ``db.<n>`` entries as ``{str: value}`` too; values
    stay as replied (redis-py ``parse_memory_stats_resp3``, its default on a RESP3 wire)."""
    if isinstance(response, list):  # a flat [name, value, ...] reply
        response = dict(zip(response[::2], response[1::2]))
    stats = {str_if_bytes(key): value for key, value in response.items()}
    for key, value in stats.items():
        if key.startswith("db.") and isinstance(value, dict):
            stats[key] = {str_if_bytes(k): v for k, v in value.items()}
    return stats


def _flat_map(response: Any, **options: Any) -> Any:
    """LCS ... IDX: the ``[key, value, ...]`` list redis-py gets on its default RESP2 wire (the
    engine answers a map, as RESP3 does)."""
    if isinstance(response, dict):
        return [x for pair in response.items() for x in pair]
    return response


# --- Streams ------------------------------------------------------------------------------
# redis-py's parse functions (``redis._parsers.helpers``), made to take the engine's replies:
# the engine answers as Redis 7.0 does on a RESP3 connection, where XREAD/XREADGROUP reply a
# map {stream: entries} and XINFO STREAM / XINFO GROUPS / XINFO CONSUMERS reply maps (the
# native layer hands a map over as a dict). The results are the ones redis-py returns from a
# real server with its default client (RESP3 wire, legacy RESP2 shapes); RESP2-shaped (flat
# list) replies are accepted too.


def pairs_to_dict(response: Any, decode_keys: bool = False, decode_string_values: bool = False) -> Dict[Any, Any]:
    """A dict from a flat ``[key, value, ...]`` list, or from a map reply (redis-py
    ``pairs_to_dict``)."""
    if response is None:
        return {}
    if isinstance(response, dict):
        response = [x for pair in response.items() for x in pair]
    if decode_keys or decode_string_values:
        keys: Any = response[::2]
        if decode_keys:
            keys = map(str_if_bytes, keys)
        values: Any = response[1::2]
        if decode_string_values:
            values = map(str_if_bytes, values)
        return dict(zip(keys, values))
    it = iter(response)
    return dict(zip(it, it))


def _str_keys(response: Any) -> Dict[str, Any]:
    """A map reply (dict) or a flat RESP2 list -> ``{str: value}``."""
    if isinstance(response, dict):
        return {str_if_bytes(k): v for k, v in response.items()}
    return pairs_to_dict(response, decode_keys=True)


def parse_stream_list(response: Any, **options: Any) -> Optional[List[Tuple[Any, Any]]]:
    """XRANGE, XREVRANGE, XCLAIM, each stream of XREAD/XREADGROUP: ``[(id, {field: value}),
    ...]``; a ``nil`` entry is ``(None, None)``, and a pending entry deleted from the stream
    (``[id, nil]`` in an XREADGROUP history read) ``(id, {})`` (redis-py ``parse_stream_list``)."""
    if response is None:
        return None
    data: List[Tuple[Any, Any]] = []
    for r in response:
        if r is not None:
            if "claim_min_idle_time" in options:
                data.append((r[0], pairs_to_dict(r[1]), *r[2:]))
            else:
                data.append((r[0], pairs_to_dict(r[1])))
        else:
            data.append((None, None))
    return data


def parse_xread(response: Any, **options: Any) -> List[List[Any]]:
    """XREAD, XREADGROUP: ``[[stream, [(id, {field: value}), ...]], ...]``; ``[]`` when
    nothing was read (a ``nil`` reply: no data, or a BLOCK timeout). The engine's reply is a
    map {stream: entries} (redis-py ``parse_xread_resp3_to_resp2_legacy``); a RESP2
    ``[[stream, entries], ...]`` list is read as redis-py ``parse_xread`` does."""
    if not response:
        return []
    if isinstance(response, dict):
        return [[key, parse_stream_list(value, **options)] for key, value in response.items()]
    return [[r[0], parse_stream_list(r[1], **options)] for r in response]


def parse_xclaim(response: Any, **options: Any) -> Any:
    """XCLAIM: the claimed entries, or their ids with JUSTID (redis-py ``parse_xclaim``)."""
    if options.get("parse_justid", False):
        return response
    return parse_stream_list(response)


def parse_xautoclaim(response: Any, **options: Any) -> Any:
    """XAUTOCLAIM: ``[next_start_id, [(id, {field: value}), ...], [deleted_id, ...]]``; with
    JUSTID only the list of claimed ids (redis-py ``parse_xautoclaim``)."""
    if options.get("parse_justid", False):
        return response[1]
    response[1] = parse_stream_list(response[1])
    return response


def parse_xinfo_stream(response: Any, **options: Any) -> Dict[str, Any]:
    """XINFO STREAM [FULL]: ``{str: value}`` with ``first-entry``/``last-entry`` as
    ``(id, {field: value})``; with FULL, ``entries`` as ``{id: {field: value}}`` and
    ``groups`` as dicts (redis-py ``parse_xinfo_stream``; as there, on a map reply a FULL
    group's ``consumers`` keep the reply's own dicts, whose keys are not made ``str``)."""
    data = _str_keys(response)
    if not options.get("full", False):
        first = data.get("first-entry")
        if first is not None and first[0] is not None:
            data["first-entry"] = (first[0], pairs_to_dict(first[1]))
        last = data["last-entry"]
        if last is not None and last[0] is not None:
            data["last-entry"] = (last[0], pairs_to_dict(last[1]))
    else:
        data["entries"] = {_id: pairs_to_dict(entry) for _id, entry in data["entries"]}
        if len(data["groups"]) > 0 and isinstance(data["groups"][0], list):
            data["groups"] = [pairs_to_dict(group, decode_keys=True) for group in data["groups"]]
            for g in data["groups"]:
                if g["consumers"] and g["consumers"][0] is not None:
                    g["consumers"] = [pairs_to_dict(c, decode_keys=True) for c in g["consumers"]]
        else:
            data["groups"] = [{str_if_bytes(k): v for k, v in group.items()} for group in data["groups"]]
    return data


def parse_list_of_dicts(response: Any, **options: Any) -> List[Dict[str, Any]]:
    """XINFO GROUPS, XINFO CONSUMERS: a list of ``{str: value}`` (redis-py
    ``parse_list_of_dicts_resp3`` for map elements, ``parse_list_of_dicts`` for flat lists)."""
    return [_str_keys(x) for x in response]


def parse_xpending(response: Any, **options: Any) -> Any:
    """XPENDING: the summary ``{"pending", "min", "max", "consumers": [{"name", "pending"}]}``,
    or with a range (``parse_detail``) the entries as dicts (redis-py ``parse_xpending``)."""
    if options.get("parse_detail", False):
        return parse_xpending_range(response)
    consumers = [{"name": n, "pending": int(p)} for n, p in response[3] or []]
    return {
        "pending": response[0],
        "min": response[1],
        "max": response[2],
        "consumers": consumers,
    }


def parse_xpending_range(response: Any) -> List[Dict[str, Any]]:
    """XPENDING with a range: ``[{"message_id", "consumer", "time_since_delivered",
    "times_delivered"}, ...]`` (redis-py ``parse_xpending_range``)."""
    k = ("message_id", "consumer", "time_since_delivered", "times_delivered")
    return [dict(zip(k, r)) for r in response]


def _bool(response: Any, **options: Any) -> bool:
    """XGROUP DESTROY: ``bool(r)``."""
    return bool(response)


# --- Geo -----------------------------------------------------------------------------------
# redis-py's callbacks for its default client (RESP3 wire, legacy RESP2 shapes). On RESP3 the
# engine, like Redis 7.0, answers GEOPOS and WITHCOORD coordinates as doubles (float) and
# GEODIST and WITHDIST distances as bulk strings; ``float()`` takes either.


def float_or_none(response: Any, **options: Any) -> Optional[float]:
    """GEODIST: the distance as a float, ``None`` when a member is missing (redis-py
    ``float_or_none``)."""
    if response is None:
        return None
    return float(response)


def parse_geopos(response: Any, **options: Any) -> List[Optional[Tuple[float, float]]]:
    """GEOPOS: ``[(longitude, latitude) or None, ...]`` (redis-py
    ``parse_geopos_resp3_to_resp2_legacy``)."""
    return [(float(ll[0]), float(ll[1])) if ll is not None else None for ll in response]


def parse_geohash(response: Any, **options: Any) -> List[Optional[str]]:
    """GEOHASH: the hashes as ``str`` (even without ``decode_responses``), ``None`` for a
    missing member (redis-py's ``lambda r: list(map(str_if_bytes, r))``)."""
    return [str_if_bytes(r) if r is not None else None for r in response]


def sort_return_tuples(response: Any, **options: Any) -> Any:
    """With ``groups``, the reply as a list of n-tuples, n being ``options["groups"]``
    (redis-py ``sort_return_tuples``)."""
    if not response or not options.get("groups"):
        return response
    n = options["groups"]
    return list(zip(*[response[i::n] for i in range(n)]))


def parse_geosearch_generic(response: Any, **options: Any) -> Any:
    """GEOSEARCH, GEORADIUS, GEORADIUSBYMEMBER: the members, or with WITHDIST / WITHHASH /
    WITHCOORD ``[member, dist (float), hash (int), (lon, lat)]`` lists (in that order, only
    the parts asked for); the reply as is with STORE / STOREDIST, and for a plain
    ``execute_command`` (no options) (redis-py ``parse_geosearch_generic``)."""
    try:
        if options["store"] or options["store_dist"]:
            # `store` and `store_dist` can't be combined with other command arguments;
            # relevant to GEORADIUS and GEORADIUSBYMEMBER.
            return response
    except KeyError:  # the command was sent via execute_command
        return response

    if not isinstance(response, list):
        response_list = [response]
    else:
        response_list = response

    if not options["withdist"] and not options["withcoord"] and not options["withhash"]:
        # just a bunch of places
        return response_list

    cast: Dict[str, Callable[[Any], Any]] = {
        "withdist": float,
        "withcoord": lambda ll: (float(ll[0]), float(ll[1])),
        "withhash": int,
    }

    # zip all output results with each casting function to get the native Python value
    f: List[Callable[[Any], Any]] = [lambda x: x]
    f += [cast[o] for o in ["withdist", "withhash", "withcoord"] if options[o]]
    return [list(map(lambda fv: fv[0](fv[1]), zip(f, r))) for r in response_list]


def parse_function_list(response: Any, **options: Any) -> Any:
    """FUNCTION LIST: each library (and each of its functions) as a flat ``[k, v, k, v, ...]``
    list (redis-py ``parse_function_list_resp3_to_resp2_legacy``, its default on a RESP3
    wire)."""
    if response is None:
        return None
    result: List[Any] = []
    for lib in response:
        if not isinstance(lib, dict):
            result.append(lib)
            continue
        flat: List[Any] = []
        for key, value in lib.items():
            flat.append(key)
            if key == b"functions" or key == "functions":
                flat.append([[item for kv in func.items() for item in kv] if isinstance(func, dict) else func for func in value])
            else:
                flat.append(value)
        result.append(flat)
    return result


CALLBACKS: Dict[str, Callable[..., Any]] = {
    "INFO": parse_info,
    "LASTSAVE": timestamp_to_datetime,
    "LCS": _flat_map,
    "BGSAVE": _true,
    "BGREWRITEAOF": _true,
    "COMMAND": parse_command,
    "COMMAND GETKEYS": _str_list,
    "MEMORY STATS": parse_memory_stats,
    "MEMORY PURGE": _bool_ok,
    "PUBSUB NUMSUB": lambda r, **options: list(zip(r[0::2], r[1::2])),
    "FUNCTION DELETE": _bool_ok,
    "FUNCTION FLUSH": _bool_ok,
    "FUNCTION RESTORE": _bool_ok,
    "FUNCTION LIST": parse_function_list,
    "SCRIPT EXISTS": lambda r, **options: [bool(x) for x in r],
    "SCRIPT FLUSH": _bool_ok,
    "SCRIPT KILL": _bool_ok,
    "SCRIPT LOAD": lambda r, **options: str_if_bytes(r),
    "XRANGE": parse_stream_list,
    "XREVRANGE": parse_stream_list,
    "XREAD": parse_xread,
    "XREADGROUP": parse_xread,
    "XCLAIM": parse_xclaim,
    "XAUTOCLAIM": parse_xautoclaim,
    "XGROUP CREATE": _bool_ok,
    "XGROUP SETID": _bool_ok,
    "XGROUP DESTROY": _bool,
    "XINFO STREAM": parse_xinfo_stream,
    "XINFO GROUPS": parse_list_of_dicts,
    "XINFO CONSUMERS": parse_list_of_dicts,
    "XPENDING": parse_xpending,
    "GEODIST": float_or_none,
    "GEOHASH": parse_geohash,
    "GEOPOS": parse_geopos,
    "GEORADIUS": parse_geosearch_generic,
    "GEORADIUSBYMEMBER": parse_geosearch_generic,
    "GEOSEARCH": parse_geosearch_generic,
    "SORT": sort_return_tuples,
}
