package frame

import (
	"errors"
	"strings"
	"testing"
)

// failoverFrames are one of each frame and field the failover protocol
// adds, as its nodes send them.
func failoverFrames() []Frame {
	no, yes := false, true
	history := []EpochStart{{1, 1}, {3, 40}, {4, 40}}
	return []Frame{
		{Type: TypeHello, Version: 2, Name: "m2", Role: RoleStandby, LogID: "log-1",
			Epoch: 5, LastEpoch: 4, LastID: 52, Epochs: history},
		{Type: TypeHello, Version: 2, Name: "s3", Role: RoleSecondary, Learner: true},
		{Type: TypeWelcome, Version: 2, Leader: &no, LogID: "log-1", Epoch: 4},
		{Type: TypeWelcome, Version: 2, Leader: &yes, LogID: "log-1", Epoch: 4, Epochs: history,
			Keep: 45, From: 46, LastID: 60, FirstID: 1, MaxFrameBytes: 1 << 20, HeartbeatMs: 1000},
		{Type: TypeAck, ID: 12, Epoch: 4},
		{Type: TypeHeartbeat, ID: 5, Epoch: 4, LastID: 60, FirstID: 1, QuorumID: 58},
		{Type: TypePrepare, Epoch: 5, Candidate: "m2", LastEpoch: 4, LastID: 52},
		{Type: TypePromise, Epoch: 5, Candidate: "m2", Granted: true, Promised: 5, LastEpoch: 4, LastID: 60, Epochs: history},
		{Type: TypePromise, Epoch: 5, Candidate: "m2", Promised: 6, LastEpoch: 4, LastID: 60, Epochs: history},
		{Type: TypePromise, Epoch: 5, Candidate: "m2", Error: "learner"},
		{Type: TypePull, From: 53, To: 60},
		{Type: TypeHandoff, Candidate: "m2", LastID: 60, Epoch: 5},
		{Type: TypePromote, Name: "m2"},
	}
}

// failoverRejects are malformed frames of the failover protocol, each
// named for the rule it breaks.
var failoverRejects = map[string]string{
	"hello unknown role":           `{"type":"hello","version":2,"name":"m2","role":"leader"}`,
	"hello last epoch past epoch":  `{"type":"hello","version":2,"name":"m2","epoch":3,"lastEpoch":4}`,
	"hello last epoch not last":    `{"type":"hello","version":2,"name":"m2","epoch":4,"lastEpoch":3,"epochs":[[1,1],[4,9]]}`,
	"epochs empty":                 `{"type":"hello","version":2,"name":"m2","epochs":[]}`,
	"epochs not pairs":             `{"type":"hello","version":2,"name":"m2","lastEpoch":1,"epochs":[[1,1,5]]}`,
	"epochs not numbers":           `{"type":"hello","version":2,"name":"m2","lastEpoch":1,"epochs":[["1","1"]]}`,
	"epochs epoch zero":            `{"type":"hello","version":2,"name":"m2","epochs":[[0,1]]}`,
	"epochs first id zero":         `{"type":"hello","version":2,"name":"m2","lastEpoch":1,"epochs":[[1,0]]}`,
	"epochs not increasing":        `{"type":"hello","version":2,"name":"m2","lastEpoch":2,"epochs":[[3,1],[2,5]]}`,
	"epochs start goes back":       `{"type":"hello","version":2,"name":"m2","lastEpoch":3,"epochs":[[1,1],[3,5],[4,4]]}`,
	"welcome from not past keep":   `{"type":"welcome","leader":true,"logId":"L","keep":7,"from":7}`,
	"welcome epoch not last":       `{"type":"welcome","logId":"L","from":1,"epoch":4,"epochs":[[1,1],[3,1]]}`,
	"welcome leader no from":       `{"type":"welcome","leader":true,"logId":"L"}`,
	"heartbeat quorum past last":   `{"type":"heartbeat","id":1,"lastId":5,"quorumId":6}`,
	"entry epoch decreases":        `{"type":"append","entries":[{"id":1,"epoch":3,"message":"x"},{"id":2,"epoch":2,"message":"y"}]}`,
	"entry key without at":         `{"type":"append","entries":[{"id":1,"message":"x","key":"k"}]}`,
	"entry at without key":         `{"type":"append","entries":[{"id":1,"message":"x","at":5}]}`,
	"entry at negative":            `{"type":"append","entries":[{"id":1,"message":"x","key":"k","at":-5}]}`,
	"pulled empty":                 `{"type":"pulled","entries":[]}`,
	"pulled with a gap":            `{"type":"pulled","entries":[{"id":1,"message":"x"},{"id":3,"message":"y"}]}`,
	"prepare no epoch":             `{"type":"prepare","candidate":"m2"}`,
	"prepare no candidate":         `{"type":"prepare","epoch":2}`,
	"prepare last epoch not below": `{"type":"prepare","epoch":2,"candidate":"m2","lastEpoch":2}`,
	"promise no candidate":         `{"type":"promise","epoch":2}`,
	"promise granted other epoch":  `{"type":"promise","epoch":2,"candidate":"m2","granted":true,"promised":3}`,
	"promise last epoch not last":  `{"type":"promise","epoch":5,"candidate":"m2","lastEpoch":3,"epochs":[[1,1],[4,2]]}`,
	"pull no from":                 `{"type":"pull","to":5}`,
	"pull to before from":          `{"type":"pull","from":5,"to":4}`,
	"handoff no candidate":         `{"type":"handoff","epoch":3,"lastId":5}`,
	"handoff no epoch":             `{"type":"handoff","candidate":"m2","lastId":5}`,
	"promote no name":              `{"type":"promote"}`,
}

// TestFailoverRejectsNameTheField: a refusal says which field is wrong,
// so that an operator reading a close reason can tell what the peer sent.
func TestFailoverRejectsNameTheField(t *testing.T) {
	for in, field := range map[string]string{
		failoverRejects["hello last epoch past epoch"]: "lastEpoch",
		failoverRejects["epochs not increasing"]:       "epochs[1]",
		failoverRejects["epochs not pairs"]:            "epoch start",
		failoverRejects["welcome from not past keep"]:  "keep",
		failoverRejects["heartbeat quorum past last"]:  "quorumId",
		failoverRejects["entry key without at"]:        "key and at",
		failoverRejects["prepare no candidate"]:        "candidate",
		failoverRejects["pull to before from"]:         "from",
		failoverRejects["promote no name"]:             "name",
	} {
		_, err := Decode([]byte(in))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), field) {
			t.Errorf("Decode(%s) = %v, want ErrMalformed naming %s", in, err, field)
		}
	}
}

// TestAbsentFieldsAreVersionOne: what a version-1 peer leaves out reads
// as the failover protocol's epoch 1 of one leader.
func TestAbsentFieldsAreVersionOne(t *testing.T) {
	old, err := Decode([]byte(`{"type":"welcome","version":1,"logId":"L","lastId":9,"from":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if !old.Leads() {
		t.Error("a welcome without leader does not lead")
	}
	if h := old.History(); len(h) != 1 || h[0] != (EpochStart{1, 1}) {
		t.Errorf("history of a version-1 master holding ids: %v, want [[1 1]]", h)
	}
	empty := Hello("s1", RoleSecondary, "", 0)
	if h := empty.History(); h != nil {
		t.Errorf("history of a peer holding nothing: %v, want none", h)
	}
	no := false
	if (Frame{Type: TypeWelcome, Leader: &no}).Leads() {
		t.Error("leader:false leads")
	}
	sent := Frame{Type: TypeHello, Version: 2, Name: "m2", LastID: 9, LastEpoch: 3, Epochs: []EpochStart{{1, 1}, {3, 5}}}
	if h := sent.History(); len(h) != 2 || h[1] != (EpochStart{3, 5}) {
		t.Errorf("history of a hello that sent one: %v", h)
	}
}
