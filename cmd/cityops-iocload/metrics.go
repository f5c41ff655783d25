package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/cityops/cityops/internal/loadtool"
)

// metrics is one scrape of GET /metrics: each series, its name with its
// labels as printed, and its value.
type metrics map[string]float64

// The series the alarms scenario follows.
const (
	mAccepted     = `cityops_mqtt_messages_total{outcome="accepted"}`
	mRejected     = `cityops_mqtt_messages_total{outcome="rejected"}`
	mDropped      = `cityops_mqtt_messages_total{outcome="dropped"}`
	mQueue        = `cityops_mqtt_queue_depth`
	mChanges      = `cityops_alarm_changes_total`
	mReadings     = `cityops_alarm_readings_total`
	mRaised       = `cityops_alarm_raised_total`
	mEnded        = `cityops_alarm_ended_total`
	mFailed       = `cityops_alarm_failed_total`
	mAlarmDropped = `cityops_alarm_dropped_total`
	mRules        = `cityops_alarm_rules`
)

// scrape reads the server's metrics in the Prometheus text format.
func scrape(ctx context.Context, api *loadtool.Client) (metrics, error) {
	rep, err := api.Do(ctx, http.MethodGet, "/metrics", "", nil)
	if err != nil {
		return nil, err
	}
	if rep.Status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", loadtool.StatusKind(rep))
	}
	return parseMetrics(rep.Body), nil
}

// parseMetrics reads the text format's samples; comments, timestamps and
// values that are not numbers are left out.
func parseMetrics(b []byte) metrics {
	m := metrics{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The name and labels end at the last space outside the labels.
		cut := strings.LastIndexByte(line, '}')
		rest := line
		if cut >= 0 {
			rest = line[cut+1:]
		} else {
			cut = strings.IndexByte(line, ' ') - 1
			if cut < 0 {
				continue
			}
			rest = line[cut+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		m[strings.TrimSpace(line[:cut+1])] = v
	}
	return m
}

// count is a series' value as a whole number.
func (m metrics) count(name string) int64 { return int64(m[name]) }
