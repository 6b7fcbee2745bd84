"""Geo commands through the redis-py drop-in, side by side with redis-py on a real redis-server
(7.0): the same calls give the same results in redis-py's shapes (GEOPOS ``(lon, lat)``
tuples, GEODIST floats, GEOHASH strings, GEOSEARCH/GEORADIUS members or
``[member, dist, hash, (lon, lat)]`` lists, STORE/STOREDIST counts) and the same errors
(redis-py's DataErrors for bad arguments, the server's for bad coordinates, unknown members
and wrong types), with bytes and with ``decode_responses=True``; and the guide-style "nearest
stores" lookup runs as written.

Floats are compared exactly: both sides parse them from the same text replies (GEODIST and
WITHDIST as bulk strings, coordinates as RESP3 doubles), and results are compared unsorted
too, so the order of GEOSEARCH without ASC/DESC must match Redis's.
"""

from __future__ import annotations

from typing import Any, List


import nestdb

from conftest import Pair, check, requires

pytestmark = requires("geoadd", "geosearch", "georadius", "geosearchstore")


SICILY = (13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania")
MORE = (
    12.758489, 38.788135, "edge1",
    17.241510, 38.788135, "edge2",
    13.583333, 37.316667, "Agrigento",
    14.015, 37.49, "Caltanissetta",
    15.55, 38.193611, "Messina",
    15.286586, 37.075474, "Siracusa",
)  # fmt: skip




def sicily(c: Any) -> Any:
    return c.geoadd("Sicily", SICILY + MORE)


def test_geoadd_like_redis(pair: Pair) -> None:
    ours = check(
        pair,
        lambda c: c.geoadd("Sicily", SICILY),
        lambda c: c.geoadd("Sicily", SICILY),
        lambda c: c.geoadd("Sicily", (13.361389, 38.115556, "Palermo", 15.0, 37.0, "Catania"), ch=True),
        lambda c: c.geoadd("Sicily", (13.0, 38.0, "Palermo", 15.2, 37.2, "Noto"), nx=True),
        lambda c: c.geoadd("Sicily", (13.1, 38.1, "Palermo", 15.3, 37.3, "Ragusa"), xx=True),
        lambda c: c.geoadd("Sicily", (13.2, 38.2, "Palermo", 15.3, 37.3, "Ragusa"), xx=True, ch=True),
        lambda c: c.geoadd("Sicily", (13.2, 38.2, "Palermo", 15.4, 37.4, "Ragusa"), nx=True, ch=True),
        lambda c: c.geoadd("Sicily", (13.2, 38.2, "Palermo"), nx=True, xx=True),
        lambda c: c.geoadd("Sicily", (13.2, 38.2)),
        lambda c: c.geoadd("Sicily", []),
        lambda c: c.geoadd("Sicily", [b"13.5", "38.5", b"bin\x00member", 0, 0, 7]),
        lambda c: c.zrange("Sicily", 0, -1, withscores=True),
        lambda c: c.zcard("Sicily"),
        lambda c: c.type("Sicily"),
    )
    assert ours[0] == ("ok", ("int", 2))


def test_geopos_geodist_geohash_like_redis(pair: Pair) -> None:
    ours = check(
        pair,
        sicily,
        lambda c: c.geopos("Sicily", "Palermo", "Catania", "nowhere"),
        lambda c: c.geopos("Sicily", "Messina"),
        lambda c: c.geopos("nokey", "Palermo", "x"),
        lambda c: c.geodist("Sicily", "Palermo", "Catania"),
        lambda c: c.geodist("Sicily", "Palermo", "Catania", "m"),
        lambda c: c.geodist("Sicily", "Palermo", "Catania", "km"),
        lambda c: c.geodist("Sicily", "Palermo", "Catania", "mi"),
        lambda c: c.geodist("Sicily", "Palermo", "Catania", "ft"),
        lambda c: c.geodist("Sicily", "Palermo", "Palermo"),
        lambda c: c.geodist("Sicily", "edge1", "edge2", "km"),
        lambda c: c.geodist("Sicily", "Palermo", "nowhere"),
        lambda c: c.geodist("nokey", "a", "b"),
        lambda c: c.geodist("Sicily", "Palermo", "Catania", "yd"),
        lambda c: c.geodist("Sicily", "Palermo", "Catania", "KM"),
        lambda c: c.geohash("Sicily", "Palermo", "Catania", "nowhere", "Siracusa"),
        lambda c: c.geohash("nokey", "a"),
        lambda c: c.geohash("Sicily"),
    )
    assert ours[1][1][0] == "list" and ours[1][1][1][0][0] == "tuple"
    assert ours[6][1][0] == "float"
    assert ours[15][1][1][0] == ("str", "sqc8b49rny0")


def test_geosearch_like_redis(pair: Pair) -> None:
    opts = dict(withdist=True, withcoord=True, withhash=True)
    check(
        pair,
        sicily,
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km"),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km", sort="ASC"),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km", sort="desc"),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=200000),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=124, unit="mi", sort="ASC", **opts),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=654000, unit="ft", withdist=True),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km", withcoord=True),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km", withhash=True),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km", withdist=True, withhash=True),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=200, unit="km", sort="ASC", withdist=True),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=1, unit="m", withdist=True),
        lambda c: c.geosearch("Sicily", member="Catania", width=400, height=400, unit="km", sort="ASC", **opts),
        lambda c: c.geosearch("Sicily", longitude=14, latitude=38, width=50, height=300, unit="km", sort="ASC"),
        lambda c: c.geosearch("Sicily", longitude=14, latitude=38, width=300, height=50, unit="km", sort="ASC"),
        lambda c: c.geosearch("Sicily", longitude=14, latitude=38, width=1000, height=1000, unit="km", sort="DESC", withdist=True),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=400, unit="km", sort="ASC", count=3),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=400, unit="km", sort="DESC", count=2, withdist=True),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=400, unit="km", count=3, any=True),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=400, unit="km", sort="ASC", count=3, any=True),
        lambda c: c.geosearch("Sicily", longitude=15, latitude=37, radius=400, unit="km", count=100),
        lambda c: c.geosearch("Sicily", longitude=0, latitude=0, radius=10, unit="km"),
        lambda c: c.geosearch("nokey", longitude=0, latitude=0, radius=10, unit="km", withdist=True),
        lambda c: c.geosearch("nokey", member="x", radius=10, unit="km"),
        lambda c: c.geosearch("Sicily", longitude=-179.9, latitude=0, radius=100, unit="km"),
        lambda c: c.geosearch("Sicily", longitude=13.361389, latitude=38.115556, radius=0.5, unit="m", **opts),
    )


def test_geosearch_argument_errors_like_redis(pair: Pair) -> None:
    check(
        pair,
        sicily,
        lambda c: c.geosearch("Sicily", radius=10),
        lambda c: c.geosearch("Sicily", longitude=15, radius=10),
        lambda c: c.geosearch("Sicily", member="Palermo", longitude=15, latitude=37, radius=10),
        lambda c: c.geosearch("Sicily", member="Palermo"),
        lambda c: c.geosearch("Sicily", member="Palermo", width=10),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=10, unit=None),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=10, unit="yd"),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=10, unit="KM"),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=10, width=2, height=2),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=10, sort="up"),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=10, any=True),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=10, count=0, any=True),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=10, count=-1),
        lambda c: c.geosearch("Sicily", member="Palermo", radius=-10),
        lambda c: c.geosearch("Sicily", member="nowhere", radius=10),
        lambda c: c.geosearch("Sicily", longitude=200, latitude=10, radius=10),
        lambda c: c.geosearch("Sicily", longitude=10, latitude=86, radius=10),
        lambda c: c.geosearchstore("dest", "Sicily", member="Palermo"),
        lambda c: c.exists("dest"),
    )


def test_geosearchstore_like_redis(pair: Pair) -> None:
    check(
        pair,
        sicily,
        lambda c: c.geosearchstore("near", "Sicily", longitude=15, latitude=37, radius=200, unit="km"),
        lambda c: c.zrange("near", 0, -1, withscores=True),
        lambda c: c.geosearchstore("near", "Sicily", longitude=15, latitude=37, radius=200, unit="km", storedist=True),
        lambda c: c.zrange("near", 0, -1, withscores=True),
        lambda c: c.geosearchstore("near", "Sicily", member="Palermo", width=400, height=400, unit="km", sort="DESC", count=2),
        lambda c: c.zrange("near", 0, -1, withscores=True),
        lambda c: c.geosearchstore("near", "Sicily", member="Palermo", radius=400, unit="km", sort="ASC", count=2, storedist=True),
        lambda c: c.zrange("near", 0, -1, withscores=True),
        lambda c: c.geosearchstore("near", "Sicily", member="Palermo", radius=400, unit="km", count=3, any=True),
        lambda c: c.zcard("near"),
        lambda c: c.geopos("near", "Palermo"),
        # Nothing found: the destination is deleted.
        lambda c: c.geosearchstore("near", "Sicily", longitude=0, latitude=0, radius=1, unit="km"),
        lambda c: c.exists("near"),
        lambda c: c.geosearchstore("near", "nokey", longitude=0, latitude=0, radius=1, unit="km"),
        lambda c: c.geosearchstore("near", "Sicily", member="nowhere", radius=1, unit="km"),
        # The source as destination.
        lambda c: c.geosearchstore("Sicily", "Sicily", member="Palermo", radius=100, unit="km"),
        lambda c: c.zrange("Sicily", 0, -1),
    )


def test_georadius_like_redis(pair: Pair) -> None:
    opts = dict(withdist=True, withcoord=True, withhash=True)
    check(
        pair,
        sicily,
        lambda c: c.georadius("Sicily", 15, 37, 200, unit="km"),
        lambda c: c.georadius("Sicily", 15, 37, 200000),
        lambda c: c.georadius("Sicily", 15, 37, 200, unit="km", sort="ASC"),
        lambda c: c.georadius("Sicily", 15, 37, 200, unit="km", sort="DESC", **opts),
        lambda c: c.georadius("Sicily", 15, 37, 124, unit="mi", withdist=True),
        lambda c: c.georadius("Sicily", 15, 37, 124, unit="ft", withcoord=True),
        lambda c: c.georadius("Sicily", 15, 37, 200, unit="km", withhash=True, sort="ASC"),
        lambda c: c.georadius("Sicily", 15, 37, 400, unit="km", count=2, sort="ASC", withdist=True),
        lambda c: c.georadius("Sicily", 15, 37, 400, unit="km", count=2, any=True),
        lambda c: c.georadius("Sicily", 15, 37, 400, unit="km", count=0),
        lambda c: c.georadius("Sicily", 15, 37, 400, unit="km", any=True),
        lambda c: c.georadius("Sicily", 15, 37, 400, unit="yd"),
        lambda c: c.georadius("Sicily", 15, 37, 400, unit="km", sort="desc"),
        lambda c: c.georadius("Sicily", 15, 37, 400, unit="km", store="a", store_dist="b"),
        lambda c: c.georadius("Sicily", 190, 37, 400, unit="km"),
        lambda c: c.georadius("nokey", 15, 37, 400, unit="km", withdist=True),
        lambda c: c.georadius("Sicily", 15, 37, 200, unit="km", store="stored"),
        lambda c: c.zrange("stored", 0, -1, withscores=True),
        lambda c: c.georadius("Sicily", 15, 37, 200, unit="km", store_dist="dists", sort="DESC", count=2),
        lambda c: c.zrange("dists", 0, -1, withscores=True),
        lambda c: c.georadius("Sicily", 15, 37, 200, unit="km", store="stored", withdist=True),
        lambda c: c.georadius("Sicily", 0, 0, 1, unit="km", store="stored"),
        lambda c: c.exists("stored"),
        lambda c: c.georadiusbymember("Sicily", "Palermo", 200, unit="km"),
        lambda c: c.georadiusbymember("Sicily", "Palermo", 200, unit="km", sort="ASC", **opts),
        lambda c: c.georadiusbymember("Sicily", "Palermo", 300, unit="km", sort="DESC", count=3, withdist=True),
        lambda c: c.georadiusbymember("Sicily", "Palermo", 300, unit="km", store="bymember"),
        lambda c: c.zrange("bymember", 0, -1, withscores=True),
        lambda c: c.georadiusbymember("Sicily", "Palermo", 300, unit="km", store_dist="bymember", sort="ASC"),
        lambda c: c.zrange("bymember", 0, -1, withscores=True),
        lambda c: c.georadiusbymember("Sicily", "nowhere", 300, unit="km"),
        lambda c: c.georadiusbymember("nokey", "Palermo", 300, unit="km"),
    )


def test_execute_command_replies_like_redis(pair: Pair) -> None:
    """Without the methods' options the replies come back as parsed (no callback shaping)."""
    check(
        pair,
        sicily,
        lambda c: c.execute_command("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km", "ASC", "WITHCOORD", "WITHDIST", "WITHHASH"),
        lambda c: c.execute_command("GEORADIUS_RO", "Sicily", 15, 37, 200, "km", "ASC", "WITHDIST"),
        lambda c: c.execute_command("GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", 200, "km", "DESC", "WITHCOORD"),
        lambda c: c.execute_command("GEORADIUS_RO", "Sicily", 15, 37, 200, "km", "STORE", "x"),
        lambda c: c.execute_command("GEOPOS", "Sicily", "Palermo", "nowhere"),
        lambda c: c.execute_command("GEODIST", "Sicily", "Palermo", "Catania", "km"),
        lambda c: c.execute_command("GEOHASH", "Sicily", "Palermo"),
        lambda c: c.execute_command("GEOADD", "Sicily", "XX", "NX", 1, 2, "x"),
        lambda c: c.execute_command("GEOADD", "Sicily", 1, 2),
        lambda c: c.execute_command("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", 1, "km", "BYBOX", 1, 1, "km"),
        lambda c: c.execute_command("GEOSEARCH", "Sicily", "BYRADIUS", 1, "km"),
    )


def test_invalid_coordinates_and_wrong_type_like_redis(pair: Pair) -> None:
    check(
        pair,
        lambda c: c.geoadd("g", (200, 10, "x")),
        lambda c: c.geoadd("g", (10, 86, "x")),
        lambda c: c.geoadd("g", (10, -85.06, "x")),
        lambda c: c.geoadd("g", ("abc", 10, "x")),
        lambda c: c.geoadd("g", (1, 2, "ok", 200, 10, "bad")),
        lambda c: c.exists("g"),
        lambda c: c.geoadd("g", (180, 85.05112878, "corner", -180, -85.05112878, "other")),
        lambda c: c.geopos("g", "corner", "other"),
        lambda c: c.geohash("g", "corner", "other"),
        lambda c: c.set("s", "string"),
        lambda c: c.geoadd("s", (1, 2, "x")),
        lambda c: c.geopos("s", "x"),
        lambda c: c.geodist("s", "x", "y"),
        lambda c: c.geohash("s", "x"),
        lambda c: c.geosearch("s", longitude=1, latitude=2, radius=1),
        lambda c: c.geosearchstore("d", "s", longitude=1, latitude=2, radius=1),
        lambda c: c.georadius("s", 1, 2, 1),
        lambda c: c.georadiusbymember("s", "x", 1),
        lambda c: c.georadius("g", 1, 2, 100000, unit="km", store="s"),
        lambda c: c.type("s"),
        lambda c: c.zadd("z", {"a": 1.5, "b": float(1 << 52)}),
        lambda c: c.geopos("z", "a", "b"),
        lambda c: c.geohash("z", "a"),
    )


def test_pipeline_like_redis(pair: Pair) -> None:
    def run(c: Any) -> Any:
        p = c.pipeline()
        p.geoadd("Sicily", SICILY)
        p.geopos("Sicily", "Palermo", "nowhere")
        p.geodist("Sicily", "Palermo", "Catania", "km")
        p.geohash("Sicily", "Catania")
        p.geosearch("Sicily", member="Palermo", radius=300, unit="km", sort="ASC", withdist=True, withcoord=True)
        p.georadius("Sicily", 15, 37, 200, unit="km", store_dist="d")
        p.geosearchstore("e", "Sicily", member="Palermo", radius=300, unit="km")
        p.geosearch("Sicily", member="nowhere", radius=300, unit="km")
        return p.execute(raise_on_error=False)

    check(pair, run)


def test_nearest_stores_guide_example(pair: Pair) -> None:
    """The guide-style example: index the stores, then find the nearest ones to a customer
    with their distances, the closest open one, and cache a neighbourhood."""

    def run(c: Any) -> Any:
        stores = {
            "store:1:Colosseo": (12.4922, 41.8902),
            "store:2:Trastevere": (12.4663, 41.8887),
            "store:3:Termini": (12.5018, 41.9010),
            "store:4:Vaticano": (12.4534, 41.9029),
            "store:5:EUR": (12.4693, 41.8345),
            "store:6:Fiumicino": (12.2389, 41.8003),
        }
        values: List[Any] = []
        for name, (lon, lat) in stores.items():
            values += [lon, lat, name]
        added = c.geoadd("stores", values)
        customer = (12.4823, 41.8955)  # near Piazza Venezia
        nearest = c.geosearch(
            "stores", longitude=customer[0], latitude=customer[1], radius=5, unit="km", sort="ASC", count=3, withdist=True
        )
        by_box = c.geosearch("stores", longitude=customer[0], latitude=customer[1], width=10, height=10, unit="km", sort="ASC")
        within = c.geosearch("stores", member="store:1:Colosseo", radius=2, unit="km", sort="ASC", withcoord=True)
        cached = c.geosearchstore("stores:near:venezia", "stores", longitude=customer[0], latitude=customer[1], radius=3, unit="km", storedist=True)
        cache = c.zrange("stores:near:venezia", 0, -1, withscores=True)
        far = c.geodist("stores", "store:1:Colosseo", "store:6:Fiumicino", unit="km")
        return added, nearest, by_box, within, cached, cache, far

    check(pair, run)
    with nestdb.Redis(decode_responses=True) as c:
        added, nearest, by_box, within, cached, cache, far = run(c)
    assert added == 6
    assert [name for name, _ in nearest] == ["store:1:Colosseo", "store:2:Trastevere", "store:3:Termini"]
    assert all(isinstance(d, float) for _, d in nearest) and nearest[0][1] < nearest[1][1] < nearest[2][1]
    assert by_box[-1] == "store:4:Vaticano" and "store:5:EUR" not in by_box and "store:6:Fiumicino" not in by_box
    assert within[0][0] == "store:1:Colosseo" and isinstance(within[0][1], tuple)
    assert cached == len(cache) == 4
    assert 20 < far < 25
