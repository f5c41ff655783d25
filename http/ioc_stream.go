package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

type liveReading struct {
	ID     string             `json:"id"`
	Type   string             `json:"type"`
	At     time.Time          `json:"at"`
	Values map[string]float64 `json:"values"`
}

// handleIOCStream is the dashboard's Server-Sent Events stream: alarms and
// warnings as they change, case events, and the sector sensors' readings
// in batches. After a reconnect the page reloads its figures, so missed
// events need no replay.
func (s *Server) handleIOCStream(w http.ResponseWriter, r *http.Request) error {
	if s.Live == nil {
		return cityops.Errorf(cityops.EUNAVAILABLE, "the live stream is not running")
	}
	actor := cityops.ActorFromContext(r.Context())
	live, leave := s.Live.Subscribe()
	defer leave()
	core := jsonld.Core()
	types := map[string]string{}
	for _, k := range sensorKinds {
		types[core.ExpandTerm(k.Type)] = k.Type
	}

	rc := startSSE(w)
	fmt.Fprint(w, "event: hello\ndata: {}\n\n")
	rc.Flush()
	write := func(event string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	}
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.closing:
			return nil
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e := <-live:
			switch e.Kind {
			case "alarm":
				if !sees(actor, e.Alarm.Agency, e.Alarm.Area) {
					continue
				}
				write("alarm", struct {
					*cityops.Alarm
					Action string `json:"action"`
				}{compactAlarm(e.Alarm), e.Action})
			case "warning":
				write("warning", e.Warning)
			case "case":
				if !inScope(actor, e.Case) {
					continue
				}
				write("case", e.Case)
			case "readings":
				out := make([]liveReading, 0, len(e.Readings))
				for _, rd := range e.Readings {
					short, ok := types[rd.Type]
					if !ok || rd.Tenant != "" {
						continue
					}
					lr := liveReading{ID: rd.ID, Type: short, At: rd.At, Values: map[string]float64{}}
					for name, v := range rd.Values {
						lr.Values[core.CompactIRI(name)] = v
					}
					out = append(out, lr)
				}
				if len(out) == 0 {
					continue
				}
				slices.SortFunc(out, func(a, b liveReading) int {
					if a.ID < b.ID {
						return -1
					}
					return 1
				})
				write("readings", out)
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}
