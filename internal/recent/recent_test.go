package recent

import (
	"strconv"
	"testing"
	"time"
)

func TestMapExpiresByAgeAndBound(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := New[int](time.Minute, 3)
	m.Put("a", 1, t0)
	m.Put("b", 2, t0.Add(10*time.Second))
	m.Put("a", 3, t0.Add(50*time.Second)) // new value, old age
	if v, ok := m.Get("a", t0.Add(55*time.Second)); !ok || v != 3 {
		t.Errorf("a = %d %v, want 3", v, ok)
	}
	if _, ok := m.Get("a", t0.Add(61*time.Second)); ok {
		t.Error("a outlived its TTL, counted from its first put")
	}
	if v, ok := m.Get("b", t0.Add(61*time.Second)); !ok || v != 2 {
		t.Errorf("b = %d %v, want 2", v, ok)
	}
	for i := range 5 {
		m.Put("k"+strconv.Itoa(i), i, t0.Add(62*time.Second))
	}
	if _, ok := m.Get("k1", t0.Add(62*time.Second)); ok {
		t.Error("k1 kept beyond the bound of 3")
	}
	for _, k := range []string{"k2", "k3", "k4"} {
		if _, ok := m.Get(k, t0.Add(62*time.Second)); !ok {
			t.Errorf("%s dropped, but it is among the 3 newest", k)
		}
	}
}
