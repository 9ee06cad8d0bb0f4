package rpc

// maxBadReleases is how many releases of references never sent a peer may
// make before the connection is closed (PB drops a broker after 3 such
// violations).
const maxBadReleases = 3

// badRelease records a release of an object this side never exported (or of
// more transmissions than were sent); repeated ones close the connection.
func (c *Conn) badRelease(id, n uint64) {
	k := c.badReleases.Add(1)
	c.log.Warn("rpc: peer released a reference it was never sent", "id", id, "count", n, "violations", k)
	if k > maxBadReleases {
		c.shutdown(protocolErrorf("%d releases of references never sent", k))
	}
}

// maxExportViolations is how many replies that would export past the
// connection's MaxExports a peer may provoke before the connection is closed
// (PB drops a broker after 3 such violations).
const maxExportViolations = 3

// exportViolation records a reply that could not be sent because it would
// export past the limit; repeated ones close the connection.
func (c *Conn) exportViolation() {
	k := c.exportViolations.Add(1)
	c.log.Warn("rpc: a reply would export past the reference limit", "limit", c.opts.maxExports, "violations", k)
	if k > maxExportViolations {
		c.shutdown(protocolErrorf("%d replies would export past the limit of %d references", k, c.opts.maxExports))
	}
}
