package csidriver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The driver's data directory:
//
//	<data-dir>/volumes/<id>/           a volume's files
//	<data-dir>/snapshots/<id>/         a snapshot's files (a copy of its source volume)
//	<data-dir>/state/volumes/<id>.json what the driver knows about a volume (volumeRecord)
//	<data-dir>/state/snapshots/<id>.json
//
// A record is written after its directory is complete and removed before its directory, so a record
// always names a complete directory; a directory without a record is a leftover of an interrupted call
// and is replaced when the same name is created again. Records are written to a temporary file and
// renamed into place.

// volumeRecord is what the driver keeps about a volume across restarts.
type volumeRecord struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	CapacityBytes int64  `json:"capacityBytes"`
	// At most one of the two: where the volume's first contents came from.
	SourceSnapshotID string `json:"sourceSnapshotId,omitempty"`
	SourceVolumeID   string `json:"sourceVolumeId,omitempty"`
	// Target paths the volume is bind-mounted on (NodePublishVolume), with their read-only flag.
	Publications map[string]publication `json:"publications,omitempty"`
}

type publication struct {
	ReadOnly bool `json:"readOnly"`
}

// snapshotRecord is what the driver keeps about a snapshot across restarts.
type snapshotRecord struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	SourceVolumeID string    `json:"sourceVolumeId"`
	SizeBytes      int64     `json:"sizeBytes"`
	CreatedAt      time.Time `json:"createdAt"`
}

// store holds the records in memory and on disk. It is not safe for concurrent use: the driver
// serializes calls.
type store struct {
	dataDir   string
	volumes   map[string]*volumeRecord // by id
	snapshots map[string]*snapshotRecord
}

func (s *store) volumeDir(id string) string   { return filepath.Join(s.dataDir, "volumes", id) }
func (s *store) snapshotDir(id string) string { return filepath.Join(s.dataDir, "snapshots", id) }
func (s *store) recordPath(kind, id string) string {
	return filepath.Join(s.dataDir, "state", kind, id+".json")
}

// openStore creates the directory layout if needed and loads every record.
func openStore(dataDir string) (*store, error) {
	s := &store{dataDir: dataDir, volumes: map[string]*volumeRecord{}, snapshots: map[string]*snapshotRecord{}}
	for _, dir := range []string{"volumes", "snapshots", "state/volumes", "state/snapshots"} {
		if err := os.MkdirAll(filepath.Join(dataDir, dir), 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	if err := loadRecords(filepath.Join(dataDir, "state", "volumes"), func(r *volumeRecord) string { return r.ID }, s.volumes); err != nil {
		return nil, err
	}
	if err := loadRecords(filepath.Join(dataDir, "state", "snapshots"), func(r *snapshotRecord) string { return r.ID }, s.snapshots); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads every record again: another driver sharing the data directory may have changed them.
func (s *store) reload() error {
	volumes, snapshots := map[string]*volumeRecord{}, map[string]*snapshotRecord{}
	if err := loadRecords(filepath.Join(s.dataDir, "state", "volumes"), func(r *volumeRecord) string { return r.ID }, volumes); err != nil {
		return err
	}
	if err := loadRecords(filepath.Join(s.dataDir, "state", "snapshots"), func(r *snapshotRecord) string { return r.ID }, snapshots); err != nil {
		return err
	}
	s.volumes, s.snapshots = volumes, snapshots
	return nil
}

func loadRecords[R any](dir string, id func(*R) string, into map[string]*R) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	for _, entry := range entries {
		if !strings.HasSuffix(entry.Name(), ".json") {
			continue // a temporary file of an interrupted write
		}
		path := filepath.Join(dir, entry.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("state file: %w", err)
		}
		record := new(R)
		if err := json.Unmarshal(data, record); err != nil {
			return fmt.Errorf("state file %s: %w", path, err)
		}
		if id(record)+".json" != entry.Name() {
			return fmt.Errorf("state file %s: holds the record of id %q", path, id(record))
		}
		into[id(record)] = record
	}
	return nil
}

func (s *store) volumeByName(name string) *volumeRecord {
	for _, v := range s.volumes {
		if v.Name == name {
			return v
		}
	}
	return nil
}

func (s *store) snapshotByName(name string) *snapshotRecord {
	for _, snap := range s.snapshots {
		if snap.Name == name {
			return snap
		}
	}
	return nil
}

func (s *store) saveVolume(v *volumeRecord) error {
	if err := writeRecord(s.recordPath("volumes", v.ID), v); err != nil {
		return err
	}
	s.volumes[v.ID] = v
	return nil
}

func (s *store) saveSnapshot(snap *snapshotRecord) error {
	if err := writeRecord(s.recordPath("snapshots", snap.ID), snap); err != nil {
		return err
	}
	s.snapshots[snap.ID] = snap
	return nil
}

// forgetVolume removes the record, then the directory.
func (s *store) forgetVolume(id string) error {
	if err := removeFile(s.recordPath("volumes", id)); err != nil {
		return err
	}
	delete(s.volumes, id)
	return os.RemoveAll(s.volumeDir(id))
}

func (s *store) forgetSnapshot(id string) error {
	if err := removeFile(s.recordPath("snapshots", id)); err != nil {
		return err
	}
	delete(s.snapshots, id)
	return os.RemoveAll(s.snapshotDir(id))
}

func writeRecord(path string, record any) error {
	data, err := json.MarshalIndent(record, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o640); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// idFor derives an id from a name, so that a call repeated after an interruption finds the leftover
// directory of the first attempt under the same id.
func idFor(prefix, name string) string {
	sum := sha256.Sum256([]byte(name))
	return prefix + hex.EncodeToString(sum[:16])
}
