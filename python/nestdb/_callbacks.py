"""Response callbacks written in Python (the common ones are native, in ``reply.rs``).

Same functions as redis-py's ``redis._parsers.helpers`` for the commands nestdb implements;
``CALLBACKS`` is installed into the native module at import.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, Dict, List, Optional, Union


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
    """MEMORY PURGE: ``True`` for OK (redis-py ``bool_ok``)."""
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
    "SCRIPT EXISTS": lambda r, **options: [bool(x) for x in r],
    "SCRIPT FLUSH": _bool_ok,
    "SCRIPT KILL": _bool_ok,
    "SCRIPT LOAD": lambda r, **options: str_if_bytes(r),
}
