package failover

// Status is what /health shows of a master-capable node.
type Status struct {
	Role       Role // RoleLeader or RoleStandby (a candidate is a standby that does not lead)
	Epoch      uint64
	Leader     *Peer
	Peers      []PeerStatus
	RolledBack uint64
	Learner    bool
	Promotions map[string]uint64 // by reason, since the process started
}

// PeerStatus is one other master-capable node as this one sees it.
type PeerStatus struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	State  string `json:"state"` // leader: its follower's health; standby: following, linked, down
	LastID uint64 `json:"lastId"`
}

// Leader is the leader as this node knows it: itself while it leads, the
// node its follower follows otherwise, with the URL PEERS gives it.
func (n *Node) Leader() (Peer, bool) {
	if n.Role() == RoleLeader {
		return n.cfg.Self, true
	}
	n.mu.Lock()
	f := n.follower
	n.mu.Unlock()
	if f == nil {
		return Peer{}, false
	}
	name, _, _, ok := f.Leader()
	if !ok {
		return Peer{}, false
	}
	p := n.peer(name)
	if u := f.LeaderURL(); u != "" {
		p.URL = u // where clients reach it, which PEERS (how nodes reach it) may not be
	}
	return p, true
}

// peer is the configured peer of that name (the URL PEERS gives it).
func (n *Node) peer(name string) Peer {
	for _, p := range n.cfg.Peers {
		if p.Name == name {
			return p
		}
	}
	return Peer{Name: name}
}

// Status reports the node for /health.
func (n *Node) Status() Status {
	s := Status{Role: n.Role(), Learner: n.ballot.Learner()}
	if s.Role == RoleCandidate {
		s.Role = RoleStandby
	}
	n.mu.Lock()
	f := n.follower
	ld := n.lead
	s.RolledBack = n.stats.RolledBack
	s.Promotions = map[string]uint64{}
	for k, v := range n.stats.Promotions {
		s.Promotions[k] = v
	}
	n.mu.Unlock()
	if l, ok := n.Leader(); ok {
		s.Leader = &l
	}
	switch {
	case ld != nil:
		s.Epoch = ld.term.Epoch
		held := map[string]PeerStatus{}
		for _, st := range n.hub.Secondaries() {
			held[st.Name] = PeerStatus{State: string(st.Status), LastID: st.AckedID}
		}
		for _, p := range n.cfg.Peers {
			ps, ok := held[p.Name]
			if !ok {
				ps.State = "down"
			}
			ps.Name, ps.URL = p.Name, p.URL
			s.Peers = append(s.Peers, ps)
		}
	case f != nil:
		_, _, e, ok := f.Leader()
		if !ok {
			e = n.ballot.Promised().Epoch
		}
		s.Epoch = e
		s.RolledBack += f.RolledBack()
		links := map[string]string{}
		for _, l := range f.Links() {
			links[l.Name] = l.State
		}
		for _, p := range n.cfg.Peers {
			state := links[p.Name]
			if state == "" {
				state = "down"
			}
			s.Peers = append(s.Peers, PeerStatus{Name: p.Name, URL: p.URL, State: state})
		}
	default:
		s.Epoch = n.ballot.Promised().Epoch
		for _, p := range n.cfg.Peers {
			s.Peers = append(s.Peers, PeerStatus{Name: p.Name, URL: p.URL, State: "unknown"})
		}
	}
	return s
}
