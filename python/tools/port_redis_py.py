"""Port redis-py's command methods for the commands nestdb implements.

Usage: python tools/port_redis_py.py path/to/redis/commands/core.py > nestdb/_commands.py

The output was generated once from redis-py 8.1.0 (MIT licence) and is maintained by hand
since; rerun it when moving to a newer redis-py and diff the result. For every selected method
it keeps redis-py's implementation body and defaults, takes the parameter and return
annotations of the synchronous ``@overload`` (so the signatures read like redis-py's sync
client), and keeps the first paragraph of the docstring.
"""

from __future__ import annotations

import ast
import sys

# (redis-py class, methods) for the command families the engine has.
SELECTED = {
    "ManagementCommands": "bgrewriteaof bgsave command command_count command_list config_get config_set config_resetstat "
    "dbsize echo flushall flushdb select info lastsave ping save time object",
    "BasicKeyCommands": "append bitcount bitfield bitfield_ro bitop bitpos copy decrby delete __delitem__ exists expire expireat expiretime get getbit getdel getex "
    "__getitem__ getrange getset incrby incrbyfloat keys lmove blmove mget mset msetnx persist pexpire pexpireat "
    "pexpiretime psetex pttl hrandfield randomkey rename renamenx set __setitem__ setbit setex setnx setrange strlen "
    "substr touch ttl type watch unwatch unlink",
    "ListCommands": "blpop brpop brpoplpush blmpop lmpop lindex linsert llen lpop lpush lpushx lrange lrem lset "
    "ltrim rpop rpoplpush rpush rpushx lpos",
    "ScanCommands": "scan scan_iter sscan sscan_iter hscan hscan_iter zscan zscan_iter",
    "SetCommands": "sadd scard sdiff sdiffstore sinter sintercard sinterstore sismember smembers smismember smove "
    "spop srandmember srem sunion sunionstore",
    "SortedSetCommands": "zadd zcard zcount zdiff zdiffstore zincrby zinter zinterstore zintercard zlexcount "
    "zpopmax zpopmin zrandmember bzpopmax bzpopmin zmpop bzmpop _zrange zrange zrevrange zrangestore "
    "zrangebylex zrevrangebylex zrangebyscore zrevrangebyscore zrank zrem zremrangebylex zremrangebyrank "
    "zremrangebyscore zrevrank zscore zunion zunionstore zmscore _zaggregate",
    "HashCommands": "hdel hexists hget hgetall hincrby hincrbyfloat hkeys hlen hset hsetnx hmset hmget hvals hstrlen",
}


def is_overload(f: ast.FunctionDef) -> bool:
    return any(getattr(d, "id", None) == "overload" for d in f.decorator_list)


def sync_overload(funcs: list[ast.FunctionDef]) -> ast.FunctionDef | None:
    for f in funcs:
        if is_overload(f) and f.args.args and "SyncClientProtocol" in ast.unparse(f.args.args[0].annotation or ast.Constant("")):
            return f
    return None


def port(f: ast.FunctionDef, sync: ast.FunctionDef | None) -> str:
    doc = ast.get_docstring(f)
    body = [b for b in f.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str))]
    if not body:
        body = [ast.Pass()]
    ann = {}
    ret = None
    if sync is not None:
        all_args = sync.args.posonlyargs + sync.args.args + sync.args.kwonlyargs
        ann = {a.arg: a.annotation for a in all_args}
        if sync.args.vararg:
            ann["*" + sync.args.vararg.arg] = sync.args.vararg.annotation
        if sync.args.kwarg:
            ann["**" + sync.args.kwarg.arg] = sync.args.kwarg.annotation
        ret = sync.returns
    else:
        all_args = f.args.posonlyargs + f.args.args + f.args.kwonlyargs
        ann = {a.arg: a.annotation for a in all_args}
        if f.args.vararg:
            ann["*" + f.args.vararg.arg] = f.args.vararg.annotation
        if f.args.kwarg:
            ann["**" + f.args.kwarg.arg] = f.args.kwarg.annotation
        ret = f.returns
        if ret is not None and "Awaitable" in ast.unparse(ret):
            ret = None
    for a in f.args.posonlyargs + f.args.args + f.args.kwonlyargs:
        a.annotation = None if a.arg == "self" else ann.get(a.arg)
    if f.args.vararg:
        f.args.vararg.annotation = ann.get("*" + f.args.vararg.arg)
    if f.args.kwarg:
        f.args.kwarg.annotation = ann.get("**" + f.args.kwarg.arg)
    f.returns = ret
    f.decorator_list = []
    f.body = body
    if doc:
        first = doc.strip().split("\n\n")[0]
        f.body.insert(0, ast.Expr(ast.Constant(first.replace("\n", "\n    "))))
    ast.fix_missing_locations(f)
    return ast.unparse(f)


def main() -> None:
    tree = ast.parse(open(sys.argv[1]).read())
    out = []
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef) or cls.name not in SELECTED:
            continue
        wanted = SELECTED[cls.name].split()
        funcs: dict[str, list[ast.FunctionDef]] = {}
        assigns = []
        for node in cls.body:
            if isinstance(node, ast.FunctionDef):
                funcs.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.Assign):
                assigns.append(node)
        out.append(f"\n    # --- redis-py {cls.name} ---\n")
        for name in wanted:
            group = funcs.get(name)
            if not group:
                raise SystemExit(f"{cls.name}.{name} not found")
            impl = [f for f in group if not is_overload(f)][-1]
            src = port(impl, sync_overload(group))
            src = src.replace("    from redis.client import EMPTY_RESPONSE\n", "")
            out.append("\n" + "\n".join("    " + line if line else "" for line in src.splitlines()) + "\n")
            for a in assigns:
                if isinstance(a.value, ast.Name) and a.value.id == name:
                    out.append("    " + ast.unparse(a) + "\n")
    print("".join(out))


if __name__ == "__main__":
    main()
