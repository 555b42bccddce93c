package ort

import (
	"crypto/sha512"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// RecordSuffix names the file scripts/install-ort.sh writes beside each
// library it installs: LIB + RecordSuffix holds "SIZE SHA512" (the size in
// bytes and the hex SHA-512 of LIB as installed).
const RecordSuffix = ".sha512"

// CheckLibrary checks the shared library file at path before it is loaded:
// dlopen maps the file, so a truncated one crashes the process (SIGBUS)
// instead of failing. With an installer's record beside it (RecordSuffix),
// the file must have the recorded size and SHA-512; in any case it must be
// a 64-bit ELF shared object whose program headers and sections all lie
// within the file.
func CheckLibrary(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := checkRecord(path, fi.Size()); err != nil {
		return err
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("truncated, or not an ELF shared library (%v)", err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Type != elf.ET_DYN {
		return fmt.Errorf("not a 64-bit ELF shared library (%v %v)", f.Class, f.Type)
	}
	for _, p := range f.Progs {
		if p.Off+p.Filesz > uint64(fi.Size()) {
			return fmt.Errorf("truncated: %d bytes, a program segment ends at byte %d", fi.Size(), p.Off+p.Filesz)
		}
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Offset+s.FileSize > uint64(fi.Size()) {
			return fmt.Errorf("truncated: %d bytes, section %s ends at byte %d", fi.Size(), s.Name, s.Offset+s.FileSize)
		}
	}
	return nil
}

// checkRecord compares the library with the installer's record, if any.
func checkRecord(path string, size int64) error {
	b, err := os.ReadFile(path + RecordSuffix)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	fields := strings.Fields(string(b))
	var wantSize int64 = -1
	if len(fields) == 2 {
		wantSize, _ = strconv.ParseInt(fields[0], 10, 64)
	}
	if wantSize < 0 {
		return fmt.Errorf("%s%s: want \"SIZE SHA512\", got %.80q", path, RecordSuffix, b)
	}
	if size != wantSize {
		return fmt.Errorf("%d bytes, the installer recorded %d (truncated or replaced)", size, wantSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(fields[1]) {
		return fmt.Errorf("SHA-512 %.16s…, the installer recorded %.16s… (the file changed since it was installed)", got, fields[1])
	}
	return nil
}
