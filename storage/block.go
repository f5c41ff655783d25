package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cityops/cityops"
)

// The block format: a version byte, then each instance in time order as
// its observation time (zig-zag varint nanoseconds since the Unix epoch
// for the first, since the previous one after that), a kind byte, and
// the value:
//
//	kind 1: a plain reading, float64 little-endian
//	kind 2: a plain reading with a unit: varint length, unitCode, float64
//	kind 3: anything else: varint length, the instance as JSON
//
// A plain reading is a Property with a number, an observedAt and at most
// a unitCode (and the series' datasetId), which is most of what sensors
// send; it is rebuilt exactly from the kind and the block's series.

const blockVersion = 1

const (
	kindNumber     = 1
	kindNumberUnit = 2
	kindJSON       = 3
)

// plain reports whether a can be kept as a reading without its JSON.
func plain(a cityops.Attr) (unit string, ok bool) {
	if a["type"] != cityops.KindProperty {
		return "", false
	}
	if _, isNum := a["value"].(float64); !isNum {
		return "", false
	}
	if _, has := a["observedAt"].(string); !has {
		return "", false
	}
	for k, v := range a {
		switch k {
		case "type", "value", "observedAt", "datasetId":
		case "unitCode":
			s, isStr := v.(string)
			if !isStr {
				return "", false
			}
			unit = s
		default:
			return "", false
		}
	}
	// The observedAt must print back the same for the rebuilt instance to
	// be identical.
	t, err := time.Parse(time.RFC3339Nano, a["observedAt"].(string))
	if err != nil || t.UTC().Format(time.RFC3339Nano) != a["observedAt"] {
		return "", false
	}
	return unit, true
}

func encodeBlock(list []instance) ([]byte, error) {
	b := make([]byte, 0, 1+len(list)*12)
	b = append(b, blockVersion)
	var prev int64
	for i := range list {
		in := &list[i]
		ns := in.at.UnixNano()
		b = binary.AppendVarint(b, ns-prev)
		prev = ns
		switch {
		case in.plain && in.unit == "":
			b = append(b, kindNumber)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(in.num))
		case in.plain:
			b = append(b, kindNumberUnit)
			b = binary.AppendUvarint(b, uint64(len(in.unit)))
			b = append(b, in.unit...)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(in.num))
		default:
			if in.value == "" {
				return nil, errors.New("block: an instance without its JSON")
			}
			b = append(b, kindJSON)
			b = binary.AppendUvarint(b, uint64(len(in.value)))
			b = append(b, in.value...)
		}
	}
	return b, nil
}

// decoded is one instance read back from a block.
type decoded struct {
	at    time.Time
	num   float64
	isNum bool
	unit  string
	json  []byte // kind 3 only
	plain bool
}

var errBlock = errors.New("block: corrupt")

// decodeBlock calls fn for each instance in the block, in time order,
// until fn returns false.
func decodeBlock(data []byte, fn func(d *decoded) bool) error {
	if len(data) == 0 || data[0] != blockVersion {
		return fmt.Errorf("block: unknown version")
	}
	p := data[1:]
	var prev int64
	var d decoded
	for len(p) > 0 {
		delta, n := binary.Varint(p)
		if n <= 0 || len(p) < n+1 {
			return errBlock
		}
		prev += delta
		kind := p[n]
		p = p[n+1:]
		d = decoded{at: time.Unix(0, prev).UTC()}
		switch kind {
		case kindNumber:
			if len(p) < 8 {
				return errBlock
			}
			d.num, d.isNum, d.plain = math.Float64frombits(binary.LittleEndian.Uint64(p)), true, true
			p = p[8:]
		case kindNumberUnit:
			l, n := binary.Uvarint(p)
			if n <= 0 || uint64(len(p)-n) < l+8 {
				return errBlock
			}
			d.unit = string(p[n : n+int(l)])
			p = p[n+int(l):]
			d.num, d.isNum, d.plain = math.Float64frombits(binary.LittleEndian.Uint64(p)), true, true
			p = p[8:]
		case kindJSON:
			l, n := binary.Uvarint(p)
			if n <= 0 || uint64(len(p)-n) < l {
				return errBlock
			}
			d.json = p[n : n+int(l)]
			p = p[n+int(l):]
		default:
			return errBlock
		}
		if !fn(&d) {
			return nil
		}
	}
	return nil
}

// attr rebuilds the instance; dataset is the block's series datasetId.
func (d *decoded) attr(dataset string) (cityops.Attr, error) {
	if !d.plain {
		var a cityops.Attr
		if err := json.Unmarshal(d.json, &a); err != nil {
			return nil, fmt.Errorf("block: %w", err)
		}
		return a, nil
	}
	a := cityops.Attr{"type": cityops.KindProperty, "value": d.num, "observedAt": d.at.Format(time.RFC3339Nano)}
	if d.unit != "" {
		a["unitCode"] = d.unit
	}
	if dataset != "" {
		a["datasetId"] = dataset
	}
	return a, nil
}

// value is what distinctCount compares.
func (d *decoded) value() (string, error) {
	if d.plain {
		return "n" + fmt.Sprint(d.num), nil
	}
	var a cityops.Attr
	if err := json.Unmarshal(d.json, &a); err != nil {
		return "", fmt.Errorf("block: %w", err)
	}
	if f, ok := a["value"].(float64); ok {
		return "n" + fmt.Sprint(f), nil
	}
	v, ok := a["object"]
	if !ok {
		v = a["value"]
	}
	b, _ := json.Marshal(v)
	return "j" + string(b), nil
}
