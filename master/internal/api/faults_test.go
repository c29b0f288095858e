package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
)

// put sends PUT url with a JSON body.
func (m *master) put(path, body string) answer {
	req, err := http.NewRequest(http.MethodPut, m.url+path, strings.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		m.t.Errorf("PUT %s: %v", path, err)
		return answer{}
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		m.t.Errorf("PUT %s: the reply is not JSON: %v", path, err)
	}
	return a
}

// faultSecondary connects a secondary that takes fault control (or not).
func (m *master) faultSecondary(name string, control bool) *frametest.Peer {
	hello := frame.Hello(name, frame.RoleSecondary, "", 0)
	delay, rate, cut := "0", 0.0, false
	hello.FaultsAPI, hello.Faults = control, &frame.Faults{ReplicationDelay: &delay, FailRate: &rate, CutOff: &cut}
	p := frametest.Dial(m.t, "ws"+strings.TrimPrefix(m.url, "http")+"/replicate", hello)
	p.Expect(frame.TypeWelcome)
	return p
}

func TestFaultControl(t *testing.T) {
	m := newMaster(t, Options{FaultsAPI: true})
	s1 := m.faultSecondary("s1", true)
	m.faultSecondary("plain", false)

	reply := make(chan answer, 1)
	go func() { reply <- m.put("/secondaries/s1/faults", `{"replicationDelay":"500ms-2s","failRate":0.3}`) }()
	f := s1.Expect(frame.TypeFaults)
	if f.Faults == nil || *f.Faults.ReplicationDelay != "500ms-2s" || *f.Faults.FailRate != 0.3 || f.Faults.CutOff != nil {
		t.Fatalf("the secondary was asked %+v", f.Faults)
	}
	delay, rate, cut := "500ms-2s", 0.3, false
	s1.Send(frame.Frame{Type: frame.TypeFaults, ID: f.ID, Faults: &frame.Faults{ReplicationDelay: &delay, FailRate: &rate, CutOff: &cut}})
	check(t, "confirmed change", <-reply, 200, map[string]any{"replicationDelay": "500ms-2s", "failRate": 0.3, "cutOff": false})

	go func() { reply <- m.put("/secondaries/s1/faults", `{"cutOff":true}`) }()
	f = s1.Expect(frame.TypeFaults)
	s1.Send(frame.Frame{Type: frame.TypeFaults, ID: f.ID, Error: "disk on fire"})
	check(t, "refused by the secondary", <-reply, 400, map[string]any{"error": "the secondary refused: disk on fire"})

	for _, c := range []struct {
		name, path, body string
		status           int
	}{
		{"unknown secondary", "/secondaries/nobody/faults", `{"cutOff":true}`, 404},
		{"no fault control", "/secondaries/plain/faults", `{"cutOff":true}`, 409},
		{"bad rate", "/secondaries/s1/faults", `{"failRate":1.5}`, 400},
		{"bad delay", "/secondaries/s1/faults", `{"replicationDelay":"2s-1s"}`, 400},
		{"wrong case", "/secondaries/s1/faults", `{"cutoff":true}`, 400},
		{"nothing", "/secondaries/s1/faults", `{}`, 400},
	} {
		a := m.put(c.path, c.body)
		check(t, c.name, a, c.status, nil)
		if _, ok := a.body["error"].(string); !ok {
			t.Errorf("%s: no error message: %v", c.name, a.body)
		}
	}
}

func TestFaultControlOff(t *testing.T) {
	m := newMaster(t, Options{})
	m.faultSecondary("s1", true)
	check(t, "FAULTS_API off", m.put("/secondaries/s1/faults", `{"cutOff":true}`), 403,
		map[string]any{"error": "fault control is off; start the master (and the secondary) with FAULTS_API=true"})
}

// TestFaultAnswersGoToTheirAsker: each change is answered by the frame
// with its id; a report of a change on the secondary's own API answers
// nobody, and a change never answered does not take the next one's
// answer.
func TestFaultAnswersGoToTheirAsker(t *testing.T) {
	m := newMaster(t, Options{FaultsAPI: true})
	s1 := m.faultSecondary("s1", true)
	first := make(chan answer, 1)
	go func() { first <- m.put("/secondaries/s1/faults", `{"failRate":0.1}`) }()
	unanswered := s1.Expect(frame.TypeFaults)
	second := make(chan answer, 1)
	go func() { second <- m.put("/secondaries/s1/faults", `{"failRate":0.2}`) }()
	asked := s1.Expect(frame.TypeFaults)
	if asked.ID == unanswered.ID || asked.ID == 0 {
		t.Fatalf("two changes numbered %d and %d", unanswered.ID, asked.ID)
	}
	delay, cut := "0", false
	own := 0.9
	s1.Send(frame.Frame{Type: frame.TypeFaults, Faults: &frame.Faults{ReplicationDelay: &delay, FailRate: &own, CutOff: &cut}})
	rate := 0.2
	s1.Send(frame.Frame{Type: frame.TypeFaults, ID: asked.ID, Faults: &frame.Faults{ReplicationDelay: &delay, FailRate: &rate, CutOff: &cut}})
	check(t, "the second change", <-second, 200, map[string]any{"failRate": 0.2})
	check(t, "the change never answered", <-first, 504, nil)
}
