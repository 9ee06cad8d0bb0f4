"""A Twisted PB client that checks a Go PB server (interop_test.go's echoRoot).

Usage: python3 echo_client.py PORT

Each check prints "ok <name>" or "FAIL <name>: <why>"; the exit status is 0
only when every check passed.
"""

import gc
import sys

from twisted.internet import defer, reactor, task
from twisted.spread import flavors, pb

failures = []


def check(name, cond, why=""):
    if cond:
        print("ok", name)
    else:
        print("FAIL %s: %s" % (name, why))
        failures.append(name)


class Point(pb.RemoteCopy, pb.Copyable):
    """A Copyable both ways, under the tag the Go side registered."""

    def __init__(self, x=0, y=0.0):
        self.x, self.y = x, y

    def getTypeToCopyFor(self, perspective):
        return b"firefly.test.Point"


pb.setUnjellyableForClass("firefly.test.Point", Point)


class Callback(pb.Referenceable):
    def remote_ping(self, n, tag=None):
        return "pong %d %s" % (n, tag)


@defer.inlineCallbacks
def main(port):
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port, factory)
    root = yield factory.getRootObject()

    # Every jelly type, as positional and keyword arguments.
    x = [1, 2]
    args = (0, 1, 127, 128, 2**31 - 1, 2**31, -1, -2**31, -2**31 - 1, 2**64, -2**100,
            1.5, -0.0, b"bytes", "unicod\xe9", b"list", [1, 2], (1, 2),
            {"a": 1, b"b": [None]}, {(1, 2): "tuple key", 3: b"int key"},
            None, True, False, {3}, frozenset([4]), x, x, [], (), [[[]]])
    kw = {"name": "Bob", "n": 7, "nested": {"k": (1, "v")}}
    got = yield root.callRemote("echo", *args, **kw)
    check("echo args", tuple(got[0]) == args, repr(got[0]))
    check("echo kwargs", got[1] == kw, repr(got[1]))
    check("echo types", [type(v) for v in got[0]] == [type(v) for v in args],
          repr([type(v) for v in got[0]]))

    got = yield root.callRemote("add", 2, 3)
    check("typed int params", got == 5, repr(got))
    got = yield root.callRemote("greet", "Bob", greeting="hi")
    check("typed kwargs", got == "hi Bob", repr(got))
    got = yield root.callRemote("greet", b"Bob")
    check("bytes into a string param", got == "hello Bob", repr(got))
    got = yield root.callRemote("big", 2**70)
    check("big int", got == 2**71, repr(got))

    # Failures.
    (f,) = yield failure_of(root.callRemote("fail"))
    check("failure", f is not None, "fail() succeeded")
    check("failure check Exception", f.check(Exception) is not None, repr(f.parents))
    check("failure message", f.getErrorMessage() == "boom", repr(f.getErrorMessage()))
    (f,) = yield failure_of(root.callRemote("expected"))
    check("pb.Error trap", f.check(pb.Error) is not None, repr(f.parents))
    check("pb.Error message", f.getErrorMessage() == "not today", f.getErrorMessage())
    (f,) = yield failure_of(root.callRemote("nosuch"))
    check("NoSuchMethod", f.check(flavors.NoSuchMethod) is not None, repr(f.parents))
    (f,) = yield failure_of(root.callRemote("add", 1))
    check("wrong argument count is a TypeError", f.check(TypeError) is not None, repr(f.type))
    (f,) = yield failure_of(root.callRemote("add", 1, 2, extra=3))
    check("unexpected kwargs are a TypeError", f.check(TypeError) is not None, repr(f.type))
    (f,) = yield failure_of(root.callRemote("add", 2**70, 1))
    check("overflow is a TypeError", f.check(TypeError) is not None, repr(f.type))

    # A Go object by reference, and coming home.
    ref = yield root.callRemote("getRef")
    check("remote reference", isinstance(ref, pb.RemoteReference), repr(ref))
    got = yield ref.callRemote("hello", "world")
    check("call on a Go reference", got == "hello world", repr(got))
    got = yield root.callRemote("isMine", ref)
    check("reference goes home as the object", got is True, repr(got))
    got = yield root.callRemote("refHome", ref)
    check("reference goes home as a *rpc.Ref", got == "hello home", repr(got))
    again = yield root.callRemote("getRef")
    check("same object, same luid", again.luid == ref.luid, "%r %r" % (again.luid, ref.luid))
    del ref, again
    # CPython frees the references (and sends their decrefs) once nothing
    # holds them; a Deferred of the reactor's may still do so for a moment.
    for tries in range(100):
        gc.collect()
        n = yield root.callRemote("exports")
        if n == 0:
            break
        yield task.deferLater(reactor, 0.05, lambda: None)
    if tries:
        print("note: the decrefs arrived after", tries, "more exports calls")
    check("decrefs release the Go object", n == 0, repr(n))

    # Our object by reference: the Go side calls it back with kwargs.
    got = yield root.callRemote("callMeBack", Callback())
    check("Go calls a Python reference", got == "pong 7 x", repr(got))

    # Copyables both ways.
    p = yield root.callRemote("getPoint")
    check("Copyable from Go", isinstance(p, Point) and p.x == 1 and p.y == 2.5, repr(getattr(p, "__dict__", p)))
    got = yield root.callRemote("sumPoint", Point(3, 0.5))
    check("Copyable to Go", got == 3.5, repr(got))

    # One-way calls: no answer ever comes.
    root.callRemote("oneway", 42, pbanswer=0)
    got = yield root.callRemote("lastOneway")
    check("one-way call ran", got == 42, repr(got))


def failure_of(d):
    """Returns a Deferred that fires with [the Failure of d], or [None] when d
    succeeds (a Failure itself would be an error again)."""
    box = defer.Deferred()
    d.addCallbacks(lambda r: box.callback([None]), lambda f: box.callback([f]))
    return box


def run(port):
    d = main(port)

    def done(_):
        print("done", "FAILED" if failures else "PASSED")
        reactor.stop()

    def crashed(f):
        print("FAIL crashed:", f.getTraceback())
        failures.append("crashed")
        reactor.stop()

    d.addCallbacks(done, crashed)
    reactor.run()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    run(int(sys.argv[1]))
