"""Configs: defaults, files, --set overrides, and every way to get them wrong."""


from pathlib import Path

import pytest

from lecun89.cli import main
from lecun89.config import CONFIG_DIR, BLOCK_TABLE, load_config, parse_override, to_toml, config_hash
from lecun89.errors import UserError

SHIPPED = sorted(CONFIG_DIR.glob("*.toml"))


def test_shipped_configs_load_and_round_trip(tmp_path):
    names = {p.stem for p in SHIPPED}
    assert {"lecun1989", "lecun1989-sgd", "karpathy2022", "modern", "fc-baseline", "quick"} <= names
    for path in SHIPPED:
        cfg = load_config(path)
        assert cfg.name == path.stem
        out = tmp_path / f"{path.stem}.toml"
        out.write_text(to_toml(cfg))
        again = load_config(out)
        assert again == cfg and config_hash(again) == config_hash(cfg)


def test_paper_config_says_what_the_paper_says():
    cfg = load_config(CONFIG_DIR / "lecun1989.toml")
    assert cfg.data.name == "usps"
    assert (cfg.model.arch, cfg.model.activation, cfg.model.output_activation) == ("net1989", "lecun", "lecun")
    assert cfg.model.bias == "unit" and cfg.model.pad_value_h1 == -1.0
    assert cfg.model.h2_table == BLOCK_TABLE
    t = cfg.train
    assert (t.passes, t.batch_size, t.order, t.loss, t.optimizer) == (23, 1, "fixed", "mse", "sdlm")
    assert (cfg.model.init, cfg.model.init_scale) == ("fanin", 2.4)  # paper: U(+-2.4/F)
    # SN2.8's second-order method as its manual states it (docs/fidelity.md)
    assert (t.schedule, t.lr, t.sdlm_estimator, t.sdlm_gamma, t.sdlm_mu, t.cost_scale, t.sdlm_eps_scale) == (
        "constant", 5e-4, "running", 0.05, 0.05, "half_sum", "none")


def test_default_config_is_quick():
    cfg = load_config(None)
    assert cfg.name == "quick" and cfg.data.name == "digits"
    assert cfg == load_config(CONFIG_DIR / "quick.toml") == load_config("quick")


def test_overrides_are_typed():
    cfg = load_config(None, ["train.lr=0.01", "train.optimizer=adamw", "model.dropout=0.5", "seed=7",
                             'model.h2_table="full"', "train.betas=[0.8, 0.9]"])
    assert cfg.train.lr == 0.01 and cfg.train.optimizer == "adamw" and cfg.model.dropout == 0.5
    assert cfg.seed == 7 and cfg.train.betas == (0.8, 0.9)
    assert all(row == tuple(range(12)) for row in cfg.model.h2_table)
    assert load_config(None, ["train.lr=1"]).train.lr == 1.0  # an integer where a number is expected


def test_parse_override_bare_word_is_string():
    assert parse_override("data.name=usps") == {"data": {"name": "usps"}}
    assert parse_override("train.passes=3") == {"train": {"passes": 3}}


@pytest.mark.parametrize("override,fragment", [
    ("train.lrr=0.1", "unknown key 'train.lrr'"),
    ("bogus.lr=0.1", "unknown key 'bogus'"),
    ("train.lr=-0.1", "train.lr: must be > 0"),
    ("train.passes=0", "train.passes: must be > 0"),
    ("train.passes=2.5", "train.passes: expected an integer"),
    ("train.passes=true", "train.passes: expected an integer"),
    ("train.batch_size=0", "train.batch_size"),
    ("data.name=imagenet", "data.name: 'imagenet' is not one of usps, mnist16, digits"),
    ("train.optimizer=lbfgs", "train.optimizer: 'lbfgs' is not one of"),
    ("model.activation=gelu", "model.activation: 'gelu' is not one of"),
    ("model.dropout=1.0", "model.dropout: must be in [0, 1)"),
    ("model.h2_table=[[0, 1], [2]]", "model.h2_table"),
    ("model.h2_table=[[0, 0]]", "model.h2_table"),
    ("train.lr_steps=[[2, -1.0]]", "train.lr_steps"),
    ("train.lr=fast", "train.lr: expected a number"),
    ("nonsense", "expected section.key=VALUE"),
    ("a.b.c=1", "expected section.key=VALUE"),
])
def test_bad_overrides_are_refused(override, fragment):
    with pytest.raises(UserError) as exc:
        load_config(None, [override])
    assert exc.value.status == 2
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("text,fragment", [
    ("[train]\nlr = 0.1\nlr = 0.2\n", "invalid TOML"),
    ("[train]\nmomentum = 0.5\nfoo = 1\n", "unknown key 'train.foo'"),
    ("train = 3\n", "[train] must be a table"),
    ("[model]\nh1_maps = 6\n", "model.h2_table: 'block' needs"),
])
def test_bad_files_are_refused(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as exc:
        load_config(path)
    assert fragment in str(exc.value) and exc.value.status == 2


def test_cli_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(["train", "--set", "train.lr=-1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lecun89: error: train.lr")
    assert not out.exists() and not (tmp_path / "runs").exists()
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"lecun89: error: config {tmp_path / 'missing.toml'}: no such file")


# --- shipped configs, by name, from anywhere ------------------------------------

REPO_CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_shipped_configs_are_the_repositorys_configs_folder():
    """One source: the installed lecun89.configs is configs/ itself (mapped at
    build time), file for file and byte for byte."""
    import importlib.resources

    installed = {p.name: p.read_bytes() for p in importlib.resources.files("lecun89.configs").iterdir()
                 if p.name.endswith(".toml")}
    repo = {p.name: p.read_bytes() for p in REPO_CONFIGS.glob("*.toml")}
    assert installed == repo and "lecun1989.toml" in installed


def test_a_bare_name_is_a_shipped_config_and_a_path_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paper = load_config(CONFIG_DIR / "lecun1989.toml")
    assert load_config("lecun1989") == load_config("lecun1989.toml") == paper
    (tmp_path / "lecun1989.toml").write_text('name = "mine"\n[train]\npasses = 2\n')
    assert load_config("lecun1989.toml").name == "mine"  # a file in the working directory wins
    assert load_config("lecun1989") == paper               # "lecun1989" is no file here: the shipped one
    with pytest.raises(UserError) as exc:
        load_config("lecun1990")
    assert "no shipped config of that name" in str(exc.value) and "lecun1989-lenet5" in str(exc.value)
    with pytest.raises(UserError):
        load_config("sub/lecun1989.toml")  # a path with a folder is a path, never a name


def test_configs_command_lists_and_shows(capsys, tmp_path, monkeypatch):
    from lecun89.config import describe_config, shipped_configs

    monkeypatch.chdir(tmp_path)
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    for name, path in shipped_configs().items():
        desc = describe_config(path)
        assert desc and f"{name}  " in out and desc in out, name
    assert describe_config(CONFIG_DIR / "lecun1989.toml").startswith("The paper: Net-1989")
    assert main(["configs", "show", "lecun1989"]) == 0
    assert capsys.readouterr().out == (CONFIG_DIR / "lecun1989.toml").read_text()
    assert main(["configs", "show", "nope"]) == 2
    assert main(["configs", "show"]) == 2


def test_version_names_the_checkouts_commit(capsys):
    import subprocess

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    import lecun89

    # the checkout the running package comes from (not necessarily this test file's)
    root = Path(lecun89.__file__).resolve().parent.parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=False).stdout.strip()
    if not head:
        pytest.skip("not a git checkout")
    assert out.startswith("lecun89 0.") and f"checkout, git {head[:12]}" in out
