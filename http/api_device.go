package http

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

func (s *Server) handleDeviceIndex(w http.ResponseWriter, r *http.Request) error {
	devs, err := s.Devices.FindDevices(r.Context())
	if err != nil {
		return err
	}
	for i, d := range devs {
		devs[i] = compactDevice(d)
	}
	writeJSON(w, http.StatusOK, list[*cityops.Device]{Items: devs, Total: len(devs)})
	return nil
}

// handleDeviceCreate registers a device. Names are given short and
// expanded with the core context, as NGSI-LD requests without a context.
func (s *Server) handleDeviceCreate(w http.ResponseWriter, r *http.Request) error {
	var dev cityops.Device
	if err := decodeJSON(r, &dev); err != nil {
		return err
	}
	dev.LastSeenAt = nil
	core := jsonld.Core()
	if dev.EntityType != "" {
		dev.EntityType = core.ExpandTerm(dev.EntityType)
	}
	for i, a := range dev.Attrs {
		if a.Name != "" {
			dev.Attrs[i].Name = core.ExpandTerm(a.Name)
		}
	}
	if err := s.Devices.CreateDevice(r.Context(), &dev); err != nil {
		return err
	}
	created(w, "/api/v1/devices/"+url.PathEscape(dev.Key)+"/"+url.PathEscape(dev.ID), compactDevice(&dev))
	return nil
}

// compactDevice gives a device's names back short, as they were sent.
func compactDevice(d *cityops.Device) *cityops.Device {
	core := jsonld.Core()
	out := *d
	out.EntityType = core.CompactIRI(d.EntityType)
	out.Attrs = make([]cityops.DeviceAttr, len(d.Attrs))
	for i, a := range d.Attrs {
		a.Name = core.CompactIRI(a.Name)
		out.Attrs[i] = a
	}
	return &out
}

func (s *Server) handleDeviceDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Devices.DeleteDevice(r.Context(), r.PathValue("key"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleDeviceMeasure takes measurements over HTTP, as the MQTT topic
// /{key}/{id}/attrs would.
func (s *Server) handleDeviceMeasure(w http.ResponseWriter, r *http.Request) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if err := plainJSON(b); err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return cityops.Errorf(cityops.EINVALID, "send the measurements as a JSON object")
	}
	at := time.Now()
	if ts, ok := m["TimeInstant"].(string); ok {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"TimeInstant": "is not a date-time"}}
		}
		at = t
		delete(m, "TimeInstant")
	}
	if err := s.Devices.Measure(r.Context(), r.PathValue("key"), r.PathValue("id"), m, at); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
