"""A server of a cluster shaped as Python Firefly's (firefly.server.server.FFServer
with firefly.server.admin's master commands; firefly.distributed.node.RemoteObject;
firefly.utils.services.Service), for rpc/cluster's tests.

Usage: python3 firefly_server.py CONFIG NAME

It reads config.json at CONFIG, joins the master at the master section's
roothost:rootport as a node called NAME (getRootObject, then
callRemote('takeProxy', NAME, proxy)), and serves the master's
callChild(command, *args) from its master service, as Firefly's servers do:

  remote_connect(rootname, host)  join the root rootname at host, on the
                                  port of the server's remoteport entry (or
                                  the root's rootport), as a node called NAME
  serverStop()                    run the stop handler, then exit
  sreload()                       reload (print it)

Joined to a root, it calls the root's callTarget('double', 21) and serves
the root's callChild from its own service (greet(who)). It prints what it
sees, one line each.
"""

import json
import sys

from twisted.internet import defer, reactor

import firefly_node
from firefly_node import Service


def say(*args):
    print(*args, flush=True)


class RemoteObject(firefly_node.RemoteObject):
    """firefly.distributed.node.RemoteObject: connect, then takeProxy; the
    server, not the link, decides when to exit."""

    def connect(self, host, port):
        reactor.connectTCP(host, port, self._factory)
        return self.takeProxy()

    @defer.inlineCallbacks
    def takeProxy(self):
        root = yield self._factory.getRootObject()
        yield root.callRemote("takeProxy", self._name, self._reference)
        return root


class Server:
    """firefly.server.server.FFServer, with the master commands of
    firefly.server.admin (masterserviceHandle)."""

    def __init__(self, config, name):
        self.config = config
        self.name = name
        self.conf = config["servers"][name]
        self.remote = {}
        self.rootService = Service(name)
        self.rootService.mapTarget(lambda who: "hello %s from %s" % (who, name), "greet")
        self.masterService = Service(name + "@master")
        self.masterService.mapTarget(self.remote_connect, "remote_connect")
        self.masterService.mapTarget(self.serverStop, "serverStop")
        self.masterService.mapTarget(self.sreload, "sreload")

    def start(self):
        master = self.config["master"]
        host = master.get("roothost") or "localhost"
        node = RemoteObject(self.name, self.masterService)
        d = node.connect(host, master["rootport"])
        d.addCallback(self.masterJoined)
        d.addErrback(self.crashed)

    def masterJoined(self, root):
        say("joined master")
        root.notifyOnDisconnect(lambda _: say("lost master"))

    def rootPort(self, rootname):
        for cnf in self.conf.get("remoteport", []):
            if cnf.get("rootname") == rootname:
                return cnf.get("rootport") or self.config["servers"][rootname]["rootport"]
        return None

    def remote_connect(self, rootname, host):
        """GlobalObject().remote_connect: join rootname at host."""
        say("remote_connect", rootname, host)
        port = self.rootPort(rootname)
        if port is None:
            say("not a root of mine:", rootname)
            return None
        node = RemoteObject(self.name, self.rootService)
        self.remote[rootname] = node
        d = node.connect(host or "localhost", port)
        d.addCallback(self.rootJoined, rootname)
        d.addErrback(self.crashed)
        return None

    @defer.inlineCallbacks
    def rootJoined(self, root, rootname):
        say("joined", rootname)
        got = yield root.callRemote("callTarget", "double", 21)
        say("callTarget", rootname, "double", got)

    def serverStop(self):
        say("serverStop")
        say("stophandler")
        reactor.callLater(0.5, reactor.stop)
        return True

    def sreload(self):
        say("sreload")
        return True

    def crashed(self, f):
        say("FAIL", f.getTraceback())
        reactor.stop()


def main(path, name):
    with open(path) as f:
        config = json.load(f)
    Server(config, name).start()
    reactor.run()
    say("exited")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
