package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard-llm/switchyard/internal/config"
)

func runRoles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	path := fs.String("config", "switchyard.yaml", "config file")
	roles := fs.String("roles", strings.Join(allRoles, ","), "roles to run: router, worker, analytics, gateway")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := newLogger(stderr, *logLevel)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	app, err := NewApp(cfg, AppOptions{Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	if err := app.Prepare(ctx); err != nil {
		return err
	}
	if err := app.Start(ctx, splitRoles(*roles), nil); err != nil {
		app.Close()
		return err
	}
	if cfg.Metrics.Addr != "" {
		srv := &http.Server{Addr: cfg.Metrics.Addr, Handler: metricsMux(reg, &app.health), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
		log.Info("metrics", "addr", cfg.Metrics.Addr)
	}
	log.Info("switchyard running", "roles", *roles, "brokers", cfg.Kafka.Brokers, "version", version)
	return app.Run(ctx)
}

func splitRoles(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// metricsMux serves /metrics, /healthz (liveness: the run loops all run) and /readyz (every
// role ready; see health).
func metricsMux(reg *prometheus.Registry, h *health) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", h.serveLive)
	mux.HandleFunc("/readyz", h.serveReady)
	return mux
}
