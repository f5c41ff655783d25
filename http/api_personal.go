package http

import (
	"net/http"
	"strings"

	"github.com/cityops/cityops"
)

// handlePersonalDataExport answers a person's request to see the data
// held about them: every report whose reporter gave the e-mail address or
// phone number asked for, as one JSON document, audited by storage.
func (s *Server) handlePersonalDataExport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	out, err := s.Reports.ExportPersonalData(r.Context(), cityops.PersonalDataQuery{Email: q.Get("email"), Phone: q.Get("phone")})
	if err != nil {
		return err
	}
	base := s.baseURL(r)
	for _, pr := range out.Reports {
		for i, u := range pr.PhotoURLs {
			if strings.HasPrefix(u, "/") {
				pr.PhotoURLs[i] = base + u
			}
		}
	}
	w.Header().Set("Content-Disposition", `attachment; filename="personal-data.json"`)
	writeJSON(w, http.StatusOK, out)
	return nil
}
