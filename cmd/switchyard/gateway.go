package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/gateway"
	"github.com/switchyard-llm/switchyard/producers"
)

// startGateway starts the OpenAI-compatible front door: a requester on its own reply
// partition and the HTTP server. It listens before it returns, so a port in use fails the
// start.
func (a *App) startGateway(ctx context.Context) error {
	g := a.cfg.Gateway
	t := a.cfg.Topics()
	instance := a.cfg.Kafka.InstanceID
	if instance == "" {
		instance = producers.DefaultInstanceID()
	}
	rq, err := producers.NewRequester(ctx, producers.RequesterConfig{
		Brokers: a.cfg.Kafka.Brokers, Opts: a.kafkaOpts, Codec: a.codec,
		Topics:     producers.RequesterTopics{Requests: t.Requests, Responses: t.Responses, Stream: t.Stream, Cancels: t.Cancels},
		InstanceID: "gateway/" + instance, ReplyPartition: int32(*g.ReplyPartition), MaxInFlight: g.MaxInFlight,
		Logger: a.log.With("role", RoleGateway),
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	keys := make([]gateway.Key, len(g.Keys))
	for i, k := range g.Keys {
		keys[i] = gateway.Key{SHA256: k.SHA256, Tenant: k.Tenant, Name: k.Name}
	}
	models := make([]gateway.Model, 0, len(a.cfg.Routing.Models))
	for _, m := range a.cfg.Routing.Models {
		models = append(models, gateway.Model{ID: m.Name, OwnedBy: m.Provider})
	}
	srv, err := gateway.New(gateway.Config{Requester: rq, Keys: keys, Models: models,
		DefaultDeadline: g.DefaultDeadline, DefaultPriority: g.DefaultPriority, DefaultTaskType: g.DefaultTaskType,
		MaxBodyBytes: g.MaxBodyBytes, IdempotencyTTL: g.IdempotencyTTL, Logger: a.log.With("role", RoleGateway), Registerer: a.reg})
	if err != nil {
		rq.Close()
		return err
	}
	ln, err := net.Listen("tcp", g.Addr)
	if err != nil {
		rq.Close()
		return fmt.Errorf("gateway: %w", err)
	}
	a.gatewayAddr = ln.Addr().String()
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	a.health.addCheck(RoleGateway, func() (bool, string) { return true, "" })
	a.log.Info("gateway listening", "addr", a.gatewayAddr, "reply_partition", rq.Partition(), "keys", len(keys))
	a.add(func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		select {
		case err := <-errc:
			return fmt.Errorf("gateway: %w", err)
		case <-ctx.Done():
		}
		// Calls in flight get the drain time to finish; then they are cut.
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Worker.DrainTimeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("gateway: %w", err)
		}
		return nil
	}, func() { hs.Close(); rq.Close() })
	return nil
}

// runGatewayCmd holds the gateway's helper commands.
func runGatewayCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "hash-key" {
		fmt.Fprintln(stderr, "usage: switchyard gateway hash-key < key   (prints the sha256 to put in gateway.keys)")
		return errors.New("unknown gateway command")
	}
	sc := bufio.NewScanner(os.Stdin)
	if !sc.Scan() {
		return errors.New("no key on stdin")
	}
	key := strings.TrimSpace(sc.Text())
	if key == "" {
		return errors.New("empty key")
	}
	fmt.Fprintln(stdout, gateway.HashKey(key))
	return nil
}
