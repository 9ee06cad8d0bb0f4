# Twisted's own Banana and Jelly, for the Go codec's interop test
# (codec_interop_test.go). Run with Debian's /usr/bin/python3 and
# python3-twisted.
#
#   twisted_codec.py encode      prints "<case> <hex>" for every case below:
#                                the bytes Twisted's jelly + Banana (dialect
#                                pb) produce for it
#   twisted_codec.py roundtrip   reads "<case> <hex>" lines (the Go codec's
#                                bytes), decodes and unjellies each with
#                                Twisted, and prints "<case> <hex>" of
#                                Twisted's re-encoding, or for a failure
#                                "<case> failure <checks>"
import datetime
import io
import sys

from twisted.python import failure
from twisted.spread import banana, jelly, pb


class Point(pb.Copyable, pb.RemoteCopy):
    def __init__(self, x=0, y=0.0):
        self.x = x
        self.y = y


pb.setUnjellyableForClass(Point, Point)


def cases():
    x = [1, 2]
    y = [3]
    cyclic = [7]
    cyclic.append(cyclic)
    d = {}
    d["self"] = d
    st, fs, tp = {1}, frozenset([2]), (1, 2)
    return [
        ("echo", (0, 1, 127, 128, 2**31 - 1, 2**31, -1, -(2**31), -(2**31) - 1, 2**64, 1.5, -0.0,
                  b"bytes", "unicod\u00e9", b"list", [1, 2], (1, 2), {"a": 1, b"b": [None]}, None, True,
                  False, {3}, frozenset([4]), x, x, [], ())),
        ("kwargs", {"name": "Bob"}),
        ("point", Point(1, 2.5)),
        ("shared", (x, y, y, x)),
        ("cyclic_list", cyclic),
        ("cyclic_dict", d),
        ("times", (datetime.datetime(2024, 2, 29, 13, 4, 5, 6007), datetime.timedelta(seconds=-1.5),
                   datetime.timedelta(hours=36))),
        ("ints", (2**447, -(2**447), 2**63, -(2**63), 2**64 - 1, 2**448 - 1)),
        ("floats", (0.1, float("inf"), -1e300, 5e-324)),
        ("shared_sets", (st, st, fs, fs, tp, tp)),
        ("nested", {"a": [(1, frozenset([2])), {3: None}], (1, 2): b"x"}),
    ]


def broker():
    return pb.Broker(isClient=0)


def encode(sexp):
    b = banana.Banana()
    b.setPrefixLimit(banana._PREFIX_LIMIT)
    b.currentDialect = b"pb"
    out = io.BytesIO()
    b._encode(sexp, out.write)
    return out.getvalue()


class Collector(banana.Banana):
    def __init__(self):
        banana.Banana.__init__(self)
        self.setPrefixLimit(banana._PREFIX_LIMIT)
        self.currentDialect = b"pb"
        self.got = []

    def expressionReceived(self, sexp):
        self.got.append(sexp)


def decode(data):
    c = Collector()
    c.dataReceived(data)
    if len(c.got) != 1:
        raise ValueError("want one expression, got %d" % len(c.got))
    return c.got[0]


def main():
    mode = sys.argv[1]
    if mode == "encode":
        for name, value in cases():
            print(name, encode(broker().serialize(value)).hex())
        return
    for line in sys.stdin:
        name, data = line.split()
        value = broker().unserialize(decode(bytes.fromhex(data)))
        if isinstance(value, failure.Failure):
            checks = [
                value.check(ValueError) is not None,
                value.check(pb.Error) is not None,
                value.check(KeyError) is not None,
                value.getErrorMessage(),
                type(value.type).__name__,
                str(value.type),
            ]
            print(name, "failure", repr(checks))
            continue
        print(name, encode(broker().serialize(value)).hex())
        sys.stdout.flush()


main()
