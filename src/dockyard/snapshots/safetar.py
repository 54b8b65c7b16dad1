"""Reading tar archives from untrusted sources with bounded memory and time.

Python's tarfile trusts the archive in ways Go's archive/tar (what Docker uses) does not:

- a PAX extended header or a GNU long name/link is read into memory whole, whatever size the
  archive claims (a 4 GiB header compresses to a few MiB of gzip); Go refuses any such
  "special file" above 1 MiB (`maxSpecialFileSize`, errFieldTooLong), and so do we;
- the PAX records of Python 3.11 before 3.11.10 are parsed with a regular expression that
  backtracks quadratically (CVE-2024-6232); we parse them in one linear pass, as the fix does;
- GNU sparse maps (old GNU extension blocks, PAX sparse 1.0 maps) are unbounded; we bound
  them by the same 1 MiB;
- a chain of special headers before a member is followed recursively; we refuse more than a
  few in a row (a real archive has at most a PAX header and two GNU long names);
- global PAX headers accumulate for the rest of the archive; their total is bounded too;
- every member read is kept in `TarFile.members`, so a stream of a million tiny entries
  keeps a million TarInfo objects; `members()` drops each one once it has been handled.

`open_tar` is the one way the daemon opens a tar it did not write.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from typing import IO

# Go's archive/tar: maxSpecialFileSize (PAX headers, GNU long names, sparse maps)
MAX_SPECIAL = 1 << 20
# special headers in a row before a member (PAX + GNU long name + GNU long link = 3)
MAX_CHAIN = 8
_DEPTH_ATTR = "_dockyard_special_depth"
_LENGTH = re.compile(rb"([0-9]{1,12}) ")


class SafeTarInfo(tarfile.TarInfo):
    """A TarInfo whose special headers are read with Go's bounds (see the module docstring)."""

    def _special_size(self, what: str) -> int:
        if self.size < 0 or self.size > MAX_SPECIAL:
            raise tarfile.HeaderError(
                f"archive/tar: {what} of {self.size} bytes is larger than {MAX_SPECIAL}"
            )
        return self._block(self.size)

    def _chained(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        """The member a special header describes (the next header), bounded in depth."""
        depth = getattr(tarfile_, _DEPTH_ATTR, 0) + 1
        if depth > MAX_CHAIN:
            raise tarfile.HeaderError("archive/tar: too many special headers in a row")
        setattr(tarfile_, _DEPTH_ATTR, depth)
        try:
            return self.fromtarfile(tarfile_)
        except tarfile.HeaderError as e:
            raise tarfile.SubsequentHeaderError(str(e)) from None
        finally:
            setattr(tarfile_, _DEPTH_ATTR, depth - 1)

    def _proc_gnulong(self, tarfile_):  # type: ignore[override]
        buf = tarfile_.fileobj.read(self._special_size("GNU long name"))
        nxt = self._chained(tarfile_)
        nxt.offset = self.offset
        if self.type == tarfile.GNUTYPE_LONGNAME:
            nxt.name = tarfile.nts(buf, tarfile_.encoding, tarfile_.errors)
        elif self.type == tarfile.GNUTYPE_LONGLINK:
            nxt.linkname = tarfile.nts(buf, tarfile_.encoding, tarfile_.errors)
        if nxt.isdir():
            nxt.name = nxt.name.removesuffix("/")
        return nxt

    def _proc_sparse(self, tarfile_):  # type: ignore[override]
        structs, isextended, origsize = self._sparse_structs  # type: ignore[attr-defined]
        del self._sparse_structs  # type: ignore[attr-defined]
        read = 0
        while isextended:
            read += tarfile.BLOCKSIZE
            if read > MAX_SPECIAL:
                raise tarfile.HeaderError("archive/tar: GNU sparse map is too large")
            buf = tarfile_.fileobj.read(tarfile.BLOCKSIZE)
            if len(buf) < tarfile.BLOCKSIZE:
                raise tarfile.HeaderError("archive/tar: unexpected end of a GNU sparse map")
            pos = 0
            for _ in range(21):
                try:
                    offset = tarfile.nti(buf[pos : pos + 12])
                    numbytes = tarfile.nti(buf[pos + 12 : pos + 24])
                except ValueError:
                    break
                if offset and numbytes:
                    structs.append((offset, numbytes))
                pos += 24
            isextended = bool(buf[504])
        self.sparse = structs
        self.offset_data = tarfile_.fileobj.tell()
        tarfile_.offset = self.offset_data + self._block(self.size)
        self.size = origsize
        return self

    def _proc_pax(self, tarfile_):  # type: ignore[override]
        buf = tarfile_.fileobj.read(self._special_size("PAX header"))
        if self.type == tarfile.XGLTYPE:
            pax_headers = tarfile_.pax_headers
        else:
            pax_headers = tarfile_.pax_headers.copy()
        records = _pax_records(buf)
        hdrcharset = next((v for k, v in records if k == b"hdrcharset"), None)
        if hdrcharset is not None:
            pax_headers["hdrcharset"] = hdrcharset.decode("utf-8", "replace")
        encoding = tarfile_.encoding if pax_headers.get("hdrcharset") == "BINARY" else "utf-8"
        for raw_key, raw_value in records:
            key = self._decode_pax_field(raw_key, "utf-8", "utf-8", tarfile_.errors)
            if key in tarfile.PAX_NAME_FIELDS:
                value = self._decode_pax_field(
                    raw_value, encoding, tarfile_.encoding, tarfile_.errors
                )
            else:
                value = self._decode_pax_field(raw_value, "utf-8", "utf-8", tarfile_.errors)
            pax_headers[key] = value
        if self.type == tarfile.XGLTYPE and (
            sum(len(k) + len(v) for k, v in pax_headers.items()) > MAX_SPECIAL
        ):
            raise tarfile.HeaderError("archive/tar: global PAX headers are too large")
        nxt = self._chained(tarfile_)
        if "GNU.sparse.map" in pax_headers:
            self._proc_gnusparse_01(nxt, pax_headers)
        elif "GNU.sparse.size" in pax_headers:
            self._proc_gnusparse_00(nxt, pax_headers, buf)
        elif (
            pax_headers.get("GNU.sparse.major") == "1"
            and pax_headers.get("GNU.sparse.minor") == "0"
        ):
            self._proc_gnusparse_10(nxt, pax_headers, tarfile_)
        if self.type in (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE):
            nxt._apply_pax_info(pax_headers, tarfile_.encoding, tarfile_.errors)
            nxt.offset = self.offset
            if "size" in pax_headers:
                offset = nxt.offset_data
                if nxt.isreg() or nxt.type not in tarfile.SUPPORTED_TYPES:
                    offset += nxt._block(nxt.size)
                tarfile_.offset = offset
        return nxt

    def _proc_gnusparse_00(self, nxt, pax_headers, buf):  # type: ignore[override]
        # the records were checked by _pax_records; only the sparse ones are wanted here
        records = _pax_records(buf)
        offsets = [int(v) for k, v in records if k == b"GNU.sparse.offset" and v.isdigit()]
        numbytes = [int(v) for k, v in records if k == b"GNU.sparse.numbytes" and v.isdigit()]
        nxt.sparse = list(zip(offsets, numbytes, strict=False))

    def _proc_gnusparse_10(self, nxt, pax_headers, tarfile_):  # type: ignore[override]
        buf = b""
        read = 0

        def line() -> int:
            nonlocal buf, read
            while b"\n" not in buf:
                read += tarfile.BLOCKSIZE
                if read > MAX_SPECIAL:
                    raise tarfile.HeaderError("archive/tar: GNU sparse map is too large")
                block = tarfile_.fileobj.read(tarfile.BLOCKSIZE)
                if len(block) < tarfile.BLOCKSIZE:
                    raise tarfile.HeaderError("archive/tar: unexpected end of a GNU sparse map")
                buf += block
            number, buf = buf.split(b"\n", 1)
            if not number.isdigit():
                raise tarfile.HeaderError("archive/tar: invalid GNU sparse map")
            return int(number)

        fields = line()
        if fields * 2 * 2 > MAX_SPECIAL:
            raise tarfile.HeaderError("archive/tar: GNU sparse map is too large")
        sparse = [line() for _ in range(fields * 2)]
        nxt.offset_data = tarfile_.fileobj.tell()
        nxt.sparse = list(zip(sparse[::2], sparse[1::2], strict=True))


_NUL_FREE = (b"path", b"linkpath", b"uname", b"gname")


def _pax_records(buf: bytes) -> list[tuple[bytes, bytes]]:
    """The records of a PAX header ("%d %s=%s\\n"), parsed in one linear pass."""
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos < len(buf) and buf[pos] != 0:
        match = _LENGTH.match(buf, pos)
        if match is None:
            raise tarfile.InvalidHeaderError("invalid header")
        length = int(match.group(1))
        end = pos + length  # one past the record's "\n"
        if length < 5 or end > len(buf) or buf[end - 1] != 0x0A:
            raise tarfile.InvalidHeaderError("invalid header")
        key, eq, value = buf[match.end() : end - 1].partition(b"=")
        if not key or not eq or b"\0" in key:
            raise tarfile.InvalidHeaderError("invalid header")
        if key in _NUL_FREE and b"\0" in value:
            # Go's validPAXRecord: names cannot hold a NUL (no system call could take them)
            raise tarfile.InvalidHeaderError("invalid header")
        out.append((key, value))
        pos = end
    return out


def open_tar(fileobj: IO[bytes], mode: str = "r|") -> tarfile.TarFile:
    """A tar reader over `fileobj` (a stream unless `mode` says otherwise) that reads
    headers with Go's bounds; names decoded as UTF-8, undecodable bytes kept."""
    return tarfile.open(
        fileobj=fileobj,
        mode=mode,
        tarinfo=SafeTarInfo,
        encoding="utf-8",
        errors="surrogateescape",
    )


def members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members of a tar read as a stream, each forgotten once the caller is done with it
    (tarfile would keep every one: a million tiny entries would stay in memory)."""
    while True:
        member = tar.next()
        if member is None:
            return
        yield member
        tar.members.clear()
