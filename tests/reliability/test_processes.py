"""Children die with seqkd, one writer per checkpoint folder, concurrent shards share one
teacher conversion, and translate warns on cut lines and keeps lines before a bad one."""

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from seqkd.errors import SeqkdError
from seqkd.procs import folder_lock
from seqkd.exported import ExportedModel
from seqkd.translate import translate_stream


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _kill_parent_of_a_sleeping_child(tmp_path, preexec: bool) -> int:
    """Start a parent that starts a sleeping child (with or without child_preexec), kill -9
    the parent, return the child's pid."""
    pidfile = tmp_path / "child.pid"
    hook = "preexec_fn=child_preexec()" if preexec else "preexec_fn=None"
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import subprocess, sys, time
        from seqkd.procs import child_preexec
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                 {hook})
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """)])
    for _ in range(100):
        if pidfile.is_file() and pidfile.read_text():
            break
        time.sleep(0.1)
    child = int(pidfile.read_text())
    assert _alive(child)
    parent.kill()
    parent.wait()
    for _ in range(20):
        if not _alive(child):
            break
        time.sleep(0.1)
    return child


def test_a_child_dies_when_its_parent_is_killed(tmp_path):
    """kill -9 of the parent (as of seqkd) takes its child (as fairseq) with it."""
    child = _kill_parent_of_a_sleeping_child(tmp_path, preexec=True)
    assert not _alive(child), "the child outlived its killed parent"


def test_without_the_preexec_hook_the_child_would_survive(tmp_path):
    """The control: without child_preexec the child is orphaned (so the test above can fail)."""
    child = _kill_parent_of_a_sleeping_child(tmp_path, preexec=False)
    try:
        assert _alive(child)
    finally:
        os.kill(child, 9)


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from seqkd.procs import folder_lock
        with folder_lock(Path({str(tmp_path)!r}), "train"):
            print("locked", flush=True)
            time.sleep(30)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    try:
        with pytest.raises(SeqkdError, match=f"pid {holder.pid}"):
            with folder_lock(tmp_path, "train"):
                pass
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock went with it, although the lock file stays
    assert (tmp_path / ".seqkd.lock").is_file()
    with folder_lock(tmp_path, "train"):
        pass


def test_waiting_lock_serialises_a_shared_conversion(tmp_path):
    """Two workers that each convert when model.bin is missing: the second waits and finds
    the first one's folder, which is never replaced."""
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from seqkd.procs import waiting_lock
        from seqkd.textio import atomic_path
        out = Path({str(tmp_path)!r})
        with waiting_lock(out / ".conv.lock"):
            if not (out / "model" / "model.bin").is_file():
                with atomic_path(out / "model") as tmp:
                    tmp.mkdir()
                    time.sleep(0.5)
                    (tmp / "model.bin").write_text(str(os.getpid()))
                print("converted", flush=True)
            else:
                print("reused", flush=True)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    said = sorted(p.communicate()[0].strip() for p in procs)
    assert said == ["converted", "reused"]
    assert (tmp_path / "model" / "model.bin").read_text() in {str(p.pid) for p in procs}


class _EchoDecoder:
    """Stands in for CTranslate2: returns the input pieces, capped at max_len."""

    def __init__(self, max_len):
        self.max_len = max_len

    def translate(self, batch):
        return [[(list(p)[: self.max_len], 0.0)] for p in batch]


def _model(prepared, max_len=200, max_input_len=1024):
    from seqkd.corpus import load_spm

    m = ExportedModel.__new__(ExportedModel)
    m.sp = load_spm(prepared / "spm.model")
    m.decoder = _EchoDecoder(max_len)
    m.max_len, m.max_input_len = max_len, max_input_len
    return m


def test_translate_names_lines_that_were_cut(prepared, caplog):
    model = _model(prepared, max_len=12, max_input_len=30)
    long_line = " ".join(["w1 w2 w3"] * 40)
    out = io.StringIO()
    n = translate_stream(model, io.BytesIO(f"w1 w2\n{long_line}\nw3\n".encode()), out)
    assert n == 3 and len(out.getvalue().splitlines()) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("line 2 has" in w and "only the first 30" in w for w in warnings), warnings
    assert any("line 2: the translation reached --max-len" in w for w in warnings), warnings
    assert not any("line 1" in w or "line 3" in w for w in warnings)


def test_translate_names_the_first_cut_lines_and_counts_the_rest(prepared, caplog):
    """A long file with many looping lines: ten of them named, then one line saying the
    rest are counted, and the count at the end (stderr stays readable)."""
    from seqkd.exported import NAMED_CUTS

    model = _model(prepared, max_len=3, max_input_len=1024)
    text = "".join(f"w1 w2 w3 w1 {k}\n" for k in range(25))
    out = io.StringIO()
    assert translate_stream(model, io.BytesIO(text.encode()), out, batch_lines=7) == 25
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    named = [w for w in warnings if w.startswith("line ")]
    assert len(named) == NAMED_CUTS == 10 and named[-1].startswith("line 10:"), warnings
    assert warnings[NAMED_CUTS].startswith("further lines that reached --max-len")
    assert warnings[-1].startswith("25 lines in all reached --max-len"), warnings
    assert len(warnings) == NAMED_CUTS + 2
    # a second stream on the same model counts from nothing again
    caplog.clear()
    translate_stream(model, io.BytesIO(b"w1 w2 w3 w1\n"), io.StringIO())
    assert [r.getMessage()[:7] for r in caplog.records] == ["line 1:"]


def test_translate_writes_the_lines_before_a_bad_one(prepared):
    model = _model(prepared)
    out = io.StringIO()
    with pytest.raises(SeqkdError, match="line 3: bytes that are not valid UTF-8"):
        translate_stream(model, io.BytesIO(b"w1 w2\nw3\n\xff\xfe bad\nw4\n"), out,
                         batch_lines=256)
    assert out.getvalue().splitlines() == ["w1 w2", "w3"]


def test_translate_leaves_a_windows_files_byte_order_mark_out():
    class Given:  # the lines a model is handed (SentencePiece's own rules may drop U+FEFF)
        def translate(self, block, first_line):
            return [ascii(line) for line in block]

    out = io.StringIO()
    assert translate_stream(Given(), io.BytesIO(b"\xef\xbb\xbfw1 w2\r\nw3\r\n"), out) == 2
    assert out.getvalue().splitlines() == ["'w1 w2'", "'w3'"]


def test_translate_to_a_full_disk_names_the_file_and_how_far_it_got(tmp_path):
    """``seqkd translate > FILE`` on a full disk: the file is the user's, so nothing can be
    kept aside under a temporary name; the error names it (not the working folder) and says
    the output is incomplete. /dev/full fails every write with ENOSPC."""
    script = textwrap.dedent("""
        import io, sys
        from seqkd.errors import SeqkdError
        from seqkd.translate import translate_stream

        class Echo:
            def translate(self, block, first_line):
                return block

        try:
            translate_stream(Echo(), io.BytesIO(b"a\\nb\\nc\\n"), sys.stdout, batch_lines=2)
        except SeqkdError as e:
            sys.stderr.write(str(e))
    """)
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-c", script], stdout=full, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(
                                  Path(__file__).resolve().parents[2])})
    assert done.stderr.startswith("no space left on the device while writing the "
                                  "translations to /dev/full ("), done.stderr
    assert "the first 0 lines at most, the rest is missing" in done.stderr
    assert str(tmp_path) not in done.stderr


def test_translate_shows_its_progress_on_stderr_unless_quiet(capsys, monkeypatch):
    """A long file's translation shows lines done and lines a second; -q (TQDM_DISABLE)
    shows nothing."""
    class Echo:
        def translate(self, block, first_line):
            return block

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    out = io.StringIO()
    assert translate_stream(Echo(), io.BytesIO(b"a\nb\nc\n"), out, batch_lines=2) == 3
    captured = capsys.readouterr()
    assert "translate: 0 lines" in captured.err and captured.out == ""
    assert out.getvalue() == "a\nb\nc\n"  # the bar never reaches the translations
    monkeypatch.setenv("TQDM_DISABLE", "1")
    translate_stream(Echo(), io.BytesIO(b"a\n"), io.StringIO())
    assert capsys.readouterr().err == ""


class _Recorder:
    """Echoes each block back and records the blocks it was given."""

    def __init__(self):
        self.blocks = []

    def translate(self, block, first_line):
        self.blocks.append(list(block))
        return block


def test_translate_answers_a_writer_that_waits_for_each_line():
    """A program that writes one line into the pipe and waits for its translation (a
    terminal, a co-process) gets it at once: before, translate waited for a block of 256
    lines, and both sides waited for ever."""
    import threading

    read_end, write_end = os.pipe()
    answers = []
    got = threading.Event()

    class Out(io.StringIO):
        def write(self, text):
            answers.append(text)
            got.set()
            return len(text)

    with os.fdopen(read_end, "rb") as inp, os.fdopen(write_end, "wb") as writer:
        model = _Recorder()
        worker = threading.Thread(target=translate_stream, args=(model, inp, Out()),
                                  daemon=True)
        worker.start()
        writer.write(b"first line\n")
        writer.flush()
        assert got.wait(30), "no translation while the writer waits for it"
        assert answers == ["first line\n"]
        got.clear()
        writer.write(b"second\nthird\n")
        writer.flush()
        assert got.wait(30)
        writer.close()
        worker.join(30)
    assert not worker.is_alive()
    assert "".join(answers) == "first line\nsecond\nthird\n"


def test_translate_reads_a_file_in_full_blocks_through_its_file_number(tmp_path):
    """A file's lines are all ready: blocks are full, a line longer than one read and a last
    line without a newline come out whole, and nothing is added."""
    long_line = "x" * 200_000
    path = tmp_path / "in.txt"
    path.write_bytes(("\n".join(["a", "b", long_line, "c", "", "d"])).encode())
    model, out = _Recorder(), io.StringIO()
    with open(path, "rb") as inp:
        assert translate_stream(model, inp, out, batch_lines=2) == 6
    assert model.blocks == [["a", "b"], [long_line, "c"], ["", "d"]]
    assert out.getvalue() == "a\nb\n" + long_line + "\nc\n\nd\n"
    path.write_bytes(b"a\nb\n")  # a read that ends with a line's end adds no empty line
    model = _Recorder()
    with open(path, "rb") as inp:
        assert translate_stream(model, inp, io.StringIO()) == 2
    assert model.blocks == [["a", "b"]]


def test_an_interrupted_translate_does_not_say_a_re_run_resumes(monkeypatch, capsys):
    """Ctrl-C in `seqkd translate`: stages resume, translate starts again from the first
    line, and says so."""
    from seqkd import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("seqkd.cli.tools.cmd_translate", interrupted)
    assert cli.main(["translate", "some-export"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "resumes" not in err
    assert "from its first line" in err


def test_translate_with_its_standard_input_closed_is_one_error(tmp_path):
    """Started with file descriptor 0 closed (a service manager's doing), Python has no
    sys.stdin: translate said so with an AttributeError traceback."""
    repo = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-m", "seqkd", "translate", str(tmp_path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: os.close(0), cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": repo})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "standard input is closed" in done.stderr and "MODEL < FILE" in done.stderr
