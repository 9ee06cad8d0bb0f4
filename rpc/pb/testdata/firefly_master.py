"""A master shaped as Python Firefly's (firefly.master: its PBRoot with
_doChildConnect and remote_map, and the web endpoints of master/webapp.py),
for rpc/cluster's tests.

Usage: python3 firefly_master.py CONFIG

It reads config.json at CONFIG and prints "listening PORT WEBPORT" once it
accepts servers on the master section's rootport and serves its admin
endpoints on its webport (both on 127.0.0.1). When a server joins with
takeProxy(name, transport), it records remote_map[name] = {host: the peer's
IP, root_list: the roots of its remoteport}, then, as Firefly does, tells
every server whose root_list holds name to remote_connect(name, host) and
the new server to remote_connect to each of its roots already known.
Firefly passes the host of the server told, not the root's; on one machine
the two are the same. A server that leaves is forgotten.

GET or POST /reloadmodule calls sreload on every server; /stop calls
serverStop on every server and exits half a second later. It prints each
call and its result.
"""

import json
import sys

from twisted.internet import reactor
from twisted.spread import pb
from twisted.web import resource, server


def say(*args):
    print(*args, flush=True)


class Child:
    """firefly.distributed.child.Child."""

    def __init__(self, name, transport):
        self.name, self.transport = name, transport

    def callbackChild(self, *args, **kw):
        return self.transport.callRemote("callChild", *args, **kw)


class MasterRoot(pb.Root):
    """firefly.distributed.root.PBRoot with the master's doChildConnect
    (master/rootapp.py: _doChildConnect) and doChildLostConnect."""

    def __init__(self, config):
        self.config = config
        self.childs = {}
        self.remote_map = {}

    def remote_takeProxy(self, name, transport):
        host = transport.broker.transport.getPeer().host
        self.childs[name] = Child(name, transport)
        transport.notifyOnDisconnect(lambda _: self.lost(name, transport))
        say("takeProxy", name, host)
        self.doChildConnect(name, host)

    def doChildConnect(self, name, host):
        server_config = self.config.get("servers", {}).get(name, {})
        root_list = [r.get("rootname") for r in server_config.get("remoteport", [])]
        self.remote_map[name] = {"host": host, "root_list": root_list}
        for servername, remote in list(self.remote_map.items()):
            if name in remote["root_list"]:
                self.callChild(servername, "remote_connect", name, remote["host"])
        for root_name in root_list:
            if root_name in self.remote_map:
                self.callChild(name, "remote_connect", root_name, self.remote_map[root_name]["host"])

    def lost(self, name, transport):
        child = self.childs.get(name)
        if child is not None and child.transport is transport:
            del self.childs[name]
            self.remote_map.pop(name, None)
            say("lost", name)

    def callChild(self, name, command, *args):
        child = self.childs.get(name)
        if child is None:
            say("no child", name)
            return
        say(command, name, *args)
        d = child.callbackChild(command, *args)
        d.addCallbacks(lambda got: say(command, name, "->", got),
                       lambda f: say(command, name, "failed:", f.getErrorMessage()))

    def callEveryChild(self, command):
        for name in sorted(self.childs):
            self.callChild(name, command)


class Command(resource.Resource):
    """master/webapp.py's stop and reloadmodule."""

    isLeaf = True

    def __init__(self, root, command, then=None):
        resource.Resource.__init__(self)
        self.root, self.command, self.then = root, command, then

    def render(self, request):
        self.root.callEveryChild(self.command)
        if self.then is not None:
            self.then()
        return self.command.encode()


def main(path):
    with open(path) as f:
        config = json.load(f)
    master = config["master"]
    root = MasterRoot(config)
    port = reactor.listenTCP(master["rootport"], pb.PBServerFactory(root), interface="127.0.0.1")
    web = resource.Resource()
    web.putChild(b"reloadmodule", Command(root, "sreload"))
    web.putChild(b"stop", Command(root, "serverStop", lambda: reactor.callLater(0.5, reactor.stop)))
    webport = reactor.listenTCP(master["webport"], server.Site(web), interface="127.0.0.1")
    say("listening", port.getHost().port, webport.getHost().port)
    reactor.run()
    say("exited")


if __name__ == "__main__":
    main(sys.argv[1])
