package follow

import "errors"

import "github.com/replog/replog/shared/frame"

// errNoLeader: a frame for the leader while none is followed.
var errNoLeader = errors.New("following no leader")

// LeaderURL is the followed leader's ADVERTISE_URL, as its welcome said
// it; "" while none is followed or it said none.
func (c *Client) LeaderURL() string {
	if l := c.fo.leader.Load(); l != nil {
		return l.advertise
	}
	return ""
}

// SendToLeader sends f on the following link: a standby's promote, which
// asks its leader for a switchover (POST /promote on the standby).
func (c *Client) SendToLeader(f frame.Frame) error {
	if c.fo.leader.Load() == nil {
		return errNoLeader
	}
	out := c.out.Load()
	if out == nil {
		return errNoLeader
	}
	return c.write(out, f)
}
