"""`seqkd run` plans per-student export settings and bench systems (the headline from one
config): a float32 export with a vocabulary map from a distilled corpus, run as int8 with and
without the map; mistakes in them judged with the rest of the config."""

import pytest

from seqkd.errors import SeqkdError
from seqkd.plan import plan
from seqkd.plan.status import missing_inputs


def steps_of(tmp_path, corpus, student_extra, export="{quantization: int8}"):
    cfg = {
        "work_dir": str(tmp_path / "w"),
        "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid")},
        "teacher": {"train": {"preset": "tiny", "max_updates": 1}},
        "distill": [{"name": "kd", "beam": 2}],
        "students": [{"name": "plain", "data": "kd", "preset": "tiny", "max_updates": 1},
                     {"name": "head", "data": "kd", "preset": "tiny", "max_updates": 1,
                      **student_extra}],
        "export": {"quantization": "int8"},
        "bench": {"student_beams": [1, 5]},
    }
    return {s.name: s for s in plan(cfg, tmp_path, "cfg.yaml")}


def test_a_students_own_export_and_bench_systems(tmp_path, corpus):
    steps = steps_of(tmp_path, corpus, {
        "export": {"quantization": "float32", "vmap": True, "vmap_top_k": 10,
                   "vmap_data": "kd"},
        "bench": [{"beam": 1, "compute_type": "int8"},
                  {"beam": 1, "compute_type": "int8", "vmap": True, "threads": 2}]})
    export = steps["export-head"]
    assert export.config.quantization == "float32" and export.config.vmap
    assert export.config.vmap_top_k == 10
    assert export.config.vmap_data == str(tmp_path / "w" / "distill-kd")
    # derived from what its settings name: the data, the student, the vmap's corpus
    assert export.deps == ["prepare", "distill-kd", "student-head"]
    assert steps["export-plain"].config.quantization == "int8"  # the export section's
    systems = {s.name: s for s in steps["bench"].config.systems}
    assert {n for n in systems if n.startswith("head")} == {"head-int8-b1",
                                                            "head-vmap-int8-b1-t2"}
    assert {n for n in systems if n.startswith("plain")} == {"plain-b1", "plain-b5"}
    s = systems["head-vmap-int8-b1-t2"]
    assert (s.kind, s.beam, s.compute_type, s.vmap, s.threads) == ("ct2", 1, "int8", True, 2)
    assert s.path == str(tmp_path / "w" / "export-head" / "model")


@pytest.mark.parametrize("extra, message", [
    ({"export": {"vmap_data": "nope"}}, "export vmap_data must be 'references' or a distill"),
    ({"export": {"quantization": "int3"}}, "student head export: quantization"),
    ({"export": "float32"}, "export must be a mapping"),
    ({"bench": [{"beam": 0}]}, "bench {'beam': 0}: 'beam=0' is not allowed"),
    ({"bench": [{"compute_type": "int8"}]}, "give each system a beam"),
    ({"bench": {"beam": 1}}, "bench must be a list of system settings"),
])
def test_mistakes_in_a_students_export_or_bench_are_reported_before_anything_runs(
        tmp_path, corpus, extra, message):
    with pytest.raises(SeqkdError) as e:
        steps_of(tmp_path, corpus, extra)
    assert message in str(e.value), str(e.value)
    assert not (tmp_path / "w").exists()


def test_a_ct2_teacher_folder_in_a_config(tmp_path, corpus):
    """teacher: {ct2: FOLDER, ...}: its tokenizer settings reach every distill entry and its
    bench row; no export of it, no fairseq row; the edges follow what each stage names."""
    folder = tmp_path / "nllb"
    folder.mkdir()
    for f in ("model.bin", "sentencepiece.bpe.model"):
        (folder / f).write_bytes(b"x")
    cfg = {"work_dir": str(tmp_path / "w"),
           "data": {"train_prefix": str(corpus / "train"),
                    "valid_prefix": str(corpus / "valid")},
           "teacher": {"ct2": str(folder), "source_prefix": "eng_Latn", "source_suffix": "</s>",
                       "target_prefix": "deu_Latn"},
           "distill": [{"name": "kd", "beam": 2}],
           "students": [{"name": "s", "data": "kd", "preset": "tiny", "max_updates": 1}],
           "bench": {"student_beams": [1], "teacher_ct2_beams": [4]}}
    steps = {s.name: s for s in plan(cfg, tmp_path, "cfg.yaml")}
    assert list(steps) == ["prepare", "distill-kd", "student-s", "export-s", "bench"]
    d = steps["distill-kd"].config
    assert (d.teachers, d.source_prefix, d.source_suffix, d.target_prefix) == (
        [str(folder)], "eng_Latn", "</s>", "deu_Latn")
    assert d.teacher_kind().text_space and d.teachers == [str(folder)]
    assert steps["distill-kd"].deps == ["prepare"]
    systems = {s.name: s for s in steps["bench"].config.systems}
    assert set(systems) == {"teacher-ct2-b4", "s-b1"}
    assert systems["teacher-ct2-b4"].own_tokenizer() == {
        "source_prefix": "eng_Latn", "source_suffix": "</s>", "target_prefix": "deu_Latn"}
    assert steps["bench"].deps == ["prepare", "export-s"]
    cfg["students"][0]["word_kd"] = {"alpha": 0.5}
    cfg["teacher"]["beam"] = 3
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "cfg.yaml")
    assert "given as a CTranslate2 folder gives translations only" in str(e.value)
    assert "teacher: give command, checkpoints, ct2" in str(e.value)
    # a misspelt key is named with the ones there are
    cfg["teacher"] = {"checkpoint": str(folder)}
    with pytest.raises(SeqkdError, match="teacher: unknown setting[(]s[)] checkpoint; set "
                                         "teacher.checkpoints [(]existing teacher[)]"):
        plan(cfg, tmp_path, "cfg.yaml")


def test_given_checkpoints_and_a_teacher_trained_here_form_an_ensemble(tmp_path, corpus):
    """checkpoints and train together: every stage that reads the teacher gets both members
    (the trained one as its folder, so an averaged checkpoint is the one used); the bench
    measures the first member alone and the ensemble."""
    given = tmp_path / "v2.pt"
    cfg = {
        "work_dir": str(tmp_path / "w"),
        "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid"),
                 "spm_model": str(tmp_path / "spm.model"),
                 "dictionary": str(tmp_path / "dict.txt")},
        "teacher": {"checkpoints": [str(given)],
                    "train": {"preset": "tiny", "max_updates": 1, "seed": 2,
                              "average_last": 3}},
        "distill": [{"name": "ens", "decoder": "fairseq", "beam": 2}],
        "students": [{"name": "s", "data": "ens", "preset": "tiny", "max_updates": 1,
                      "word_kd": {"topk": 4}}],
        "export": {"quantization": "int8"},
        "bench": {"student_beams": [1], "teacher_ct2_beams": [5]},
    }
    steps = {s.name: s for s in plan(cfg, tmp_path, "cfg.yaml")}
    trained = str(tmp_path / "w" / "teacher")
    assert steps["teacher"].config.seed == 2 and steps["teacher"].config.average_last == 3
    assert steps["distill-ens"].config.teachers == [str(given), trained]
    assert steps["distill-ens"].deps == ["prepare", "teacher"]
    assert steps["topk-ens-k4"].config.teachers == [str(given), trained]
    systems = {s.name: s for s in steps["bench"].config.systems}
    assert (systems["teacher"].path, systems["teacher"].members) == (str(given), [])
    ens = systems["teacher-ensemble"]
    assert (ens.kind, ens.paths) == ("fairseq", [str(given), trained])
    # the CTranslate2 export is of the first member: one model converts, not an ensemble
    assert steps["export-teacher"].config.checkpoint == str(given)


def test_a_ctranslate2_distill_of_an_ensemble_is_refused_with_the_rest(tmp_path, corpus):
    cfg = {
        "work_dir": str(tmp_path / "w"),
        "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid"),
                 "spm_model": "spm.model", "dictionary": "dict.txt"},
        "teacher": {"checkpoints": ["v2.pt"], "train": {"preset": "tiny", "max_updates": 1},
                    "seed": 2},
        "distill": [{"name": "ens", "decoder": "ctranslate2"}],
    }
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "cfg.yaml")
    # both mistakes at once: a setting outside teacher.train, the CTranslate2 decoder asked
    # to decode an ensemble
    assert "checkpoints and train together" in str(e.value)
    assert "decode the ensemble of 2 with decoder fairseq" in str(e.value), str(e.value)
    assert not (tmp_path / "w").exists()


def test_distill_sources_are_planned_against_the_prepared_corpora(tmp_path, corpus):
    cfg = {
        "work_dir": str(tmp_path / "w"),
        "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid"),
                 "mono": {"mine": "mono/text"}, "mono_datasets": {"caps": "multi30k-captions"}},
        "teacher": {"train": {"preset": "tiny", "max_updates": 1}},
        "distill": [{"name": "kd", "sources": ["train", "mine", "caps"], "select": "mbr"}],
        "students": [{"name": "s", "data": "kd", "preset": "tiny", "max_updates": 1}],
    }
    steps = {s.name: s for s in plan(cfg, tmp_path, "cfg.yaml")}
    assert steps["distill-kd"].config.sources == ["train", "mine", "caps"]
    # a local monolingual prefix resolves against the folder seqkd runs in, like the rest
    assert steps["prepare"].config.mono == {"mine": str(tmp_path / "mono" / "text")}
    assert steps["distill-kd"].deps[0] == "prepare"
    # a source that prepare does not make, and the reserved name, with the other problems
    cfg["distill"] = [{"name": "kd", "sources": ["train", "other"]},
                      {"name": "references", "beam": 2},
                      {"name": "inter", "sources": ["mine"], "method": "seq-inter", "nbest": 2},
                      # an entry with a problem of its own: its unprepared source is said too
                      {"name": "both", "sources": ["train", "gone"], "beam": 0}]
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "cfg.yaml")
    text = str(e.value)
    assert "5 problems" in text and "sources other are not prepared" in text
    assert "distill both: sources gone are not prepared" in text
    assert "the name 'references' is reserved" in text and "seq-inter selects by the" in text
    # a name no source can have is said once, as that, not as unprepared too
    cfg["distill"] = [{"name": "kd", "sources": ["valid", 3, "gone"]}]
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "cfg.yaml")
    text = str(e.value)
    assert "2 problems" in text and "sources must be a list of strings" in text
    assert "sources gone are not prepared" in text and "valid are not" not in text


def test_a_vmap_bench_system_over_an_export_without_a_map_is_refused_at_planning(tmp_path,
                                                                                corpus):
    with pytest.raises(SeqkdError, match="bench system head-vmap-int8-b1 runs with the "
                                         "vocabulary map, and its export makes none"):
        steps_of(tmp_path, corpus, {"bench": [{"beam": 1, "compute_type": "int8",
                                               "vmap": True}]})


def test_blind_sets_in_the_bench_section_are_checked_at_planning(tmp_path, corpus):
    """bench: {blind: [NAME=FILE]}: a malformed entry is a planning problem, a file not there
    (yet) one a run of the bench is refused for; a good one reaches the bench stage and is one of its inputs."""
    held = tmp_path / "held.en"
    held.write_text("a dog runs\n")
    cfg = {"work_dir": str(tmp_path / "w"),
           "data": {"train_prefix": str(corpus / "train"),
                    "valid_prefix": str(corpus / "valid")},
           "teacher": {"train": {"preset": "tiny", "max_updates": 1}},
           "distill": [{"name": "kd", "beam": 2}],
           "students": [{"name": "s", "data": "kd", "preset": "tiny", "max_updates": 1}],
           "bench": {"student_beams": [1], "blind": ["held", f"held={held}", f"held={held}"]}}
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "cfg.yaml")
    assert "bench: blind: 'held' is not NAME=FILE" in str(e.value)
    assert "bench: blind: name 'held' is given twice" in str(e.value)
    assert not (tmp_path / "w").exists()
    cfg["bench"]["blind"] = [f"held={held}", f"later={tmp_path / 'later.en'}"]
    steps = plan(cfg, tmp_path, "cfg.yaml")
    bench = {s.name: s for s in steps}["bench"].config
    # a file not there yet: planned, and what a run of the bench would be refused for
    assert missing_inputs(steps, ["bench"]) == [("bench", tmp_path / "later.en")]
    assert bench.blind == [f"held={held}", f"later={tmp_path / 'later.en'}"]
    assert held in bench.input_files() and held in bench.consumes()


@pytest.mark.parametrize("extra, first", [
    ({"data": "nope"}, "student head: data must be 'references' or a distill name (kd)"),
    ({"continue_from": "later"}, "student head: continue_from must name a student listed"),
    ({"word_kd": {"alfa": 0.5}}, "student head: word_kd takes alpha, temperature and topk"),
])
def test_a_student_whose_data_continuation_or_kd_is_wrong_has_its_settings_checked_too(
        tmp_path, corpus, extra, first):
    with pytest.raises(SeqkdError) as e:
        steps_of(tmp_path, corpus, {**extra, "dropout": 2, "lr": -1})
    text = str(e.value)
    assert first in text and "3 problems" in text, text
    assert "student head: dropout must be at most 1.0, got 2" in text
    assert "student head: lr must be above 0.0, got -1.0" in text


def test_a_config_of_baselines_needs_no_teacher_and_what_reads_one_says_so(tmp_path, corpus):
    """No teacher section: prepare, baselines, their exports and a bench of them plan; a
    distillation, word-level KD and the teacher's export rows each ask for the teacher."""
    cfg = {"work_dir": str(tmp_path / "w"),
           "data": {"train_prefix": str(corpus / "train"),
                    "valid_prefix": str(corpus / "valid")},
           "students": [{"name": "b", "data": "references", "preset": "tiny",
                         "max_updates": 1}],
           "bench": {"student_beams": [1]}}
    steps = {s.name: s for s in plan(cfg, tmp_path, "cfg.yaml")}
    assert list(steps) == ["prepare", "student-b", "export-b", "bench"]
    assert [s.name for s in steps["bench"].config.systems] == ["b-b1"]
    assert steps["student-b"].config.kd_teachers == []
    cfg["distill"] = [{"name": "kd"}]
    cfg["students"] += [{"name": "w", "data": "references", "preset": "tiny",
                         "max_updates": 1, "word_kd": {"alpha": 0.5}},
                        {"name": "c", "data": "references", "preset": "tiny",
                         "max_updates": 1, "word_kd": {"topk": 8}}]
    cfg["bench"]["teacher_ct2_beams"] = [5]
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "cfg.yaml")
    for problem in ("distill kd: distillation needs a teacher: add a teacher section "
                    "(teacher.checkpoints, teacher.train, teacher.ct2 or teacher.command), or "
                    "leave the distill section out",
                    "student w: word_kd needs a teacher: set teacher.checkpoints or "
                    "teacher.train, or leave word_kd out", "student c: word_kd needs a teacher",
                    "bench: teacher_ct2_beams measures the teacher exported, and the config "
                    "has no teacher section"):
        assert problem in str(e.value), str(e.value)
    assert "--teacher" not in str(e.value)  # a config's problem in the config's words


def test_a_problem_that_every_students_export_shares_is_said_once(tmp_path, corpus):
    """The export section applies to each student: a fidelity_test no stage prepares was
    said once a student (two lines, the same words) before."""
    cfg = {
        "work_dir": str(tmp_path / "w"),
        "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid")},
        "students": [{"name": n, "preset": "tiny", "max_updates": 1} for n in ("a", "b", "c")],
        "export": {"fidelity_test": "nosuchset"},
        "bench": {"threads": [-1]},
    }
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "cfg.yaml")
    message = str(e.value)
    assert "2 problems; nothing was run" in message, message
    assert message.count("no test set 'nosuchset' is prepared") == 1
