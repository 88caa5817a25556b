package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// grafanaPanel is the part of a Grafana panel the tests read (rows nest their panels).
type grafanaPanel struct {
	ID         int    `json:"id"`
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource struct {
		Type string `json:"type"`
	} `json:"datasource"`
	Targets []struct {
		RefID  string `json:"refId"`
		RawSQL string `json:"rawSql"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

func grafanaPanels(t *testing.T) []grafanaPanel {
	t.Helper()
	b, err := os.ReadFile("../../deploy/grafana/switchyard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name, Type, Query string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("deploy/grafana/switchyard.json: %v", err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type + ":" + v.Query
	}
	if vars["datasource"] != "datasource:grafana-clickhouse-datasource" || vars["database"] != "textbox:switchyard" || vars["tenant"] != "textbox:" {
		t.Errorf("template variables %v: want datasource (ClickHouse plugin), database and tenant", vars)
	}
	var out []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

var (
	timeFilterMacro = regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`)
	leftoverMacro   = regexp.MustCompile(`\$__\w+|\$\{[^}]*\}|\$[a-z]\w*`)
)

// expandGrafanaSQL does what Grafana and the ClickHouse plugin do before a query reaches the
// server: the plugin's macros ($__timeFilter(col), $__fromTime, $__toTime, $__interval_s) and the
// dashboard variables (${database}, ${tenant:sqlstring}, a quoted string).
func expandGrafanaSQL(sql, db, tenant string, from, to time.Time, intervalS int) (string, error) {
	f, tt := fmt.Sprintf("toDateTime(%d)", from.Unix()), fmt.Sprintf("toDateTime(%d)", to.Unix())
	sql = timeFilterMacro.ReplaceAllString(sql, "$1 >= "+f+" AND $1 <= "+tt)
	sql = strings.NewReplacer(
		"$__fromTime", f, "$__toTime", tt, "$__interval_s", fmt.Sprint(intervalS),
		"${database}", db, "${tenant:sqlstring}", "'"+strings.ReplaceAll(tenant, "'", "''")+"'",
	).Replace(sql)
	if m := leftoverMacro.FindString(sql); m != "" {
		return "", fmt.Errorf("unexpanded %s (a macro or variable the test does not know)", m)
	}
	return sql, nil
}

// TestGrafanaPanelsRunOnServer runs every panel's SQL on ClickHouse 18.16 over the seeded rows,
// for every tenant and for one, and wants rows from each: a panel whose query does not run (or
// filters everything away) fails.
func TestGrafanaPanelsRunOnServer(t *testing.T) {
	panels := grafanaPanels(t)
	if len(panels) < 8 {
		t.Fatalf("%d panels: want cost over time, latency, breakdowns and error kinds", len(panels))
	}
	conn := clickhouseConn(t)
	now := time.Now().UTC()
	db := seededDatabase(t, conn, now)
	for _, p := range panels {
		if p.Datasource.Type != "grafana-clickhouse-datasource" || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: datasource %q, %d targets", p.ID, p.Title, p.Datasource.Type, len(p.Targets))
		}
		for _, tg := range p.Targets {
			for _, tenant := range []string{"", "beta"} {
				sql, err := expandGrafanaSQL(tg.RawSQL, db, tenant, now.Add(-6*time.Hour), now, 60)
				if err != nil {
					t.Errorf("panel %q %s: %v", p.Title, tg.RefID, err)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				rows, err := conn.Query(ctx, sql)
				if err != nil {
					cancel()
					t.Errorf("panel %q (tenant %q) does not run on the server: %v\n%s", p.Title, tenant, err, sql)
					continue
				}
				n := 0
				for rows.Next() {
					n++
				}
				err = rows.Err()
				rows.Close()
				cancel()
				if err != nil || n == 0 {
					t.Errorf("panel %q (tenant %q): %d rows, %v: want rows over the seeded data\n%s", p.Title, tenant, n, err, sql)
				}
			}
		}
	}
}

// TestPrometheusScrapesEveryRole checks deploy/prometheus/prometheus.yml: a job for all roles in
// one process and one per role, each scraping /metrics on a host:port.
func TestPrometheusScrapesEveryRole(t *testing.T) {
	b, err := os.ReadFile("../../deploy/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "/metrics" || len(sc.StaticConfigs) == 0 {
			t.Errorf("job %s: metrics_path %q, %d static configs", sc.JobName, sc.MetricsPath, len(sc.StaticConfigs))
		}
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				if _, _, err := net.SplitHostPort(tg); err != nil {
					t.Errorf("job %s: target %q is not host:port", sc.JobName, tg)
				}
			}
			roles[st.Labels["role"]] = true
		}
	}
	for _, r := range []string{"all", "router", "worker", "analytics"} {
		if !roles[r] {
			t.Errorf("no scrape job for role %s", r)
		}
	}
}
