"""A Twisted PB server that interop_test.go's Go client checks.

Usage: python3 echo_server.py PORT

It prints "listening PORT" once it accepts connections and serves until
killed.
"""

import sys

from twisted.internet import reactor
from twisted.spread import pb


class Point(pb.RemoteCopy, pb.Copyable):
    def __init__(self, x=0, y=0.0):
        self.x, self.y = x, y

    def getTypeToCopyFor(self, perspective):
        return b"firefly.test.Point"


pb.setUnjellyableForClass("firefly.test.Point", Point)


class Counter(pb.Cacheable):
    """A Cacheable: the Go side keeps its copies as plain values and gives
    each back at once with a decache."""

    stopped = 0

    def __init__(self):
        self.n = 0

    def getStateToCacheAndObserveFor(self, perspective, observer):
        return {"n": self.n}

    def stoppedObserving(self, perspective, observer):
        Counter.stopped += 1


class Greeter(pb.Referenceable):
    def remote_hello(self, name):
        return "hello " + name


class Factory(pb.PBServerFactory):
    """Keeps the brokers, so the root can report their reference counts."""

    brokers = []

    def buildProtocol(self, addr):
        p = pb.PBServerFactory.buildProtocol(self, addr)
        self.brokers.append(p)
        return p


class Echo(pb.Root):
    last_oneway = None
    greeter = Greeter()
    counter = Counter()

    def remote_echo(self, *args, **kw):
        return args, kw

    def remote_types(self, *args):
        return [type(a).__name__ for a in args]

    def remote_fail(self):
        raise ValueError("boom")

    def remote_expected(self):
        raise pb.Error("not today")

    def remote_getRef(self):
        return self.greeter

    def remote_echoRef(self, ref):
        return ref

    def remote_isGreeter(self, ref):
        return ref is self.greeter

    def remote_callMe(self, ref):
        return ref.callRemote("ping", 7, tag="x")

    def remote_oneway(self, n):
        self.last_oneway = n

    def remote_lastOneway(self):
        return self.last_oneway

    def remote_getPoint(self):
        return Point(1, 2.5)

    def remote_sumPoint(self, p):
        return p.x + p.y

    def remote_getCounter(self):
        return self.counter

    def remote_stoppedObserving(self):
        return Counter.stopped

    def remote_refcount(self):
        """The objects the connections' brokers export by reference (their
        localObjects, less the root, which is held under b"root")."""
        return sum(1 for b in Factory.brokers if b.connected
                   for luid in b.localObjects if isinstance(luid, int))


port = reactor.listenTCP(int(sys.argv[1]), Factory(Echo()), interface="127.0.0.1")
print("listening", port.getHost().port, flush=True)
reactor.run()
