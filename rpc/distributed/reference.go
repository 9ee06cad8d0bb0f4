package distributed

import (
	"context"
	"reflect"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// ProxyReference is what a Node hands its Root when it connects (Firefly's
// ProxyReference): a referenceable whose methods are the targets of the
// node's Service. The root's calls on it (Child.Call, Root.CallChild: Firefly's
// remote_callChild) run the service's targets, with the service's run style.
type ProxyReference struct {
	rpc.Referenceable
	svc *Service
}

// NewProxyReference returns a reference that serves svc's targets.
func NewProxyReference(svc *Service) *ProxyReference { return &ProxyReference{svc: svc} }

// Service returns the service the reference serves.
func (p *ProxyReference) Service() *Service { return p.svc }

// Lookup implements Dispatcher with the service's Lookup.
func (p *ProxyReference) Lookup(name string) *registry.Method { return p.svc.Lookup(name) }

// Call implements Dispatcher with the service's Call.
func (p *ProxyReference) Call(ctx context.Context, m *registry.Method, args []reflect.Value) (reflect.Value, error) {
	return p.svc.Call(ctx, m, args)
}

// String describes the reference.
func (p *ProxyReference) String() string { return "distributed.ProxyReference(" + p.svc.Name() + ")" }

// Methods lists the node's service targets (for introspection).
func (p *ProxyReference) Methods() []*registry.Method { return p.svc.Methods() }

// ContextFree reports what the node's service does (see Service.ContextFree).
func (p *ProxyReference) ContextFree(m *registry.Method) bool { return p.svc.ContextFree(m) }

// Abandon passes the broker's abandoned lookups on to the node's service.
func (p *ProxyReference) Abandon(m *registry.Method) { p.svc.Abandon(m) }
