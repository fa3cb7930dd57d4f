"""Plugin discovery through entry points, failure isolation, strict mode, duplicates, unknown names."""

import json
import types

import pytest
from click.testing import CliRunner

from deepcart import hookimpl
from deepcart.errors import DuplicateComponentError, PluginLoadError, UnknownComponentError
from deepcart.plugin_manager import PluginWarning, load_plugins
from deepcart.plugins import BUILTIN_PLUGINS
from deepcart.registry import PluginSource


def test_installed_plugin_is_listed(deepcart_cmd):
    result = deepcart_cmd("plugins", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    hello = next(p for p in report["plugins"] if p["name"] == "hello")
    assert hello["distribution"] == "deepcart-hello" and hello["version"] == "0.1.0"
    assert hello["components"] == {"metric": ["within-one"]}
    assert any(c["name"] == "within-one" and c["distribution"] == "deepcart-hello"
               for c in report["kinds"]["metric"])
    table = deepcart_cmd("plugins").stdout
    assert "deepcart-hello" in table and "within-one" in table


def test_broken_plugin_is_reported_and_everything_else_works(deepcart_cmd):
    for args in (["--help"], ["plugins"], ["serve", "--help"]):
        result = deepcart_cmd(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "deepcart-broken-plugin" in result.stderr and "ModuleNotFoundError" in result.stderr
    report = json.loads(deepcart_cmd("plugins", "--json").stdout)
    failed = report["failed"]
    assert [f["name"] for f in failed] == ["broken"]
    assert failed[0]["distribution"] == "deepcart-broken-plugin"
    assert failed[0]["entry_point"] == "broken = deepcart_broken_plugin"
    assert "deepcart_dependency_that_does_not_exist" in failed[0]["error"]
    assert "Failed plugins" in deepcart_cmd("plugins").stdout


def test_strict_mode_makes_a_broken_plugin_fatal(deepcart_cmd):
    result = deepcart_cmd("plugins", DEEPCART_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "deepcart-broken-plugin" in result.stderr and "Traceback" not in result.stderr


def test_load_only_selected_entry_points(deepcart_cmd):
    report = json.loads(deepcart_cmd("plugins", "--json", DEEPCART_LOAD_PLUGINS="hello").stdout)
    assert "hello" in [p["name"] for p in report["plugins"]] and report["failed"] == []
    report = json.loads(deepcart_cmd("plugins", "--json", DEEPCART_LOAD_PLUGINS="").stdout)
    assert {p["distribution"] for p in report["plugins"]} == {"deepcart"}


def _plugin(**hooks):
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


THIRD = PluginSource("thirdparty", "deepcart-thirdparty", "1.0", entry_point="thirdparty = x")


def test_duplicate_name_names_both_plugins():
    from deepcart.plugins.recommenders.naive import NaiveRecommender

    def register_recommenders(register):
        register("naive", NaiveRecommender)

    with pytest.raises(PluginLoadError) as err:
        load_plugins(entry_points=False, extra=[(_plugin(register_recommenders=register_recommenders), THIRD)], strict=True)
    message = str(err.value.message)
    assert "deepcart.plugins.recommenders.naive" in message and "deepcart-thirdparty" in message
    assert isinstance(err.value.__cause__, DuplicateComponentError)


def test_duplicate_from_third_party_is_skipped_with_warning_when_not_strict():
    from deepcart.plugins.recommenders.naive import NaiveRecommender

    def register_recommenders(register):
        register("also-fine", NaiveRecommender)
        register("naive", NaiveRecommender)

    with pytest.warns(PluginWarning, match="registered twice"):
        plugins = load_plugins(entry_points=False, extra=[(_plugin(register_recommenders=register_recommenders), THIRD)], strict=False)
    # The built-in keeps its name, and the failed plugin leaves nothing half-registered behind.
    assert plugins.registry.get("recommender", "naive").source.distribution == "deepcart"
    assert "also-fine" not in plugins.registry.names("recommender")
    assert [f.source.name for f in plugins.failed] == ["thirdparty"]


def test_hook_that_raises_is_a_reported_failure():
    def register_metrics(register):
        raise RuntimeError("boom")

    with pytest.warns(PluginWarning, match="deepcart-thirdparty.*RuntimeError: boom"):
        plugins = load_plugins(entry_points=False, extra=[(_plugin(register_metrics=register_metrics), THIRD)], strict=False)
    assert plugins.failed[0].error == "RuntimeError: boom"
    assert "thirdparty" not in plugins.manager.list_name_plugin()[0]


def test_component_breaking_its_contract_is_refused():
    class NotARecommender:
        """Lacks fit/predict."""

    def register_recommenders(register):
        register("bad", NotARecommender)

    with pytest.warns(PluginWarning, match="lacks Config, fit, predict"):
        load_plugins(entry_points=False, extra=[(_plugin(register_recommenders=register_recommenders), THIRD)], strict=False)


def test_unknown_name_lists_available(deepcart_registry):
    with pytest.raises(UnknownComponentError) as err:
        deepcart_registry.get("recommender", "nope")
    assert "unknown recommender 'nope'" in err.value.message and "naive" in err.value.message


def test_fresh_manager_per_call():
    a, b = load_plugins(entry_points=False), load_plugins(entry_points=False)
    assert a.manager is not b.manager and a.registry is not b.registry


def test_builtin_failure_is_fatal():
    with pytest.raises(ModuleNotFoundError):
        load_plugins(builtins=["deepcart.plugins.no_such_module"], entry_points=False)


def _with_extra(monkeypatch, plugin, source=THIRD):
    import deepcart.plugin_manager as pm

    original = pm.load_plugins
    monkeypatch.setattr(pm, "load_plugins", lambda **kw: original(extra=[(plugin, source)], only=set(), **kw))


def test_plugin_commands_are_added(monkeypatch):
    import click

    from deepcart.cli import cli

    def register_commands(cli):
        @cli.command()
        def hello():
            """Say hello."""
            click.echo("hello from a plugin")

    _with_extra(monkeypatch, _plugin(register_commands=register_commands))
    result = CliRunner().invoke(cli, ["hello"])
    assert result.exit_code == 0 and "hello from a plugin" in result.output
    listing = CliRunner().invoke(cli, ["plugins", "--json"])
    entry = next(p for p in json.loads(listing.output)["plugins"] if p["name"] == "thirdparty")
    assert entry["components"]["command"] == ["hello"]


def test_plugin_command_clash_with_the_root_groups_own_command_names_both(monkeypatch):
    import click

    from deepcart.cli import DeepcartGroup

    # deepcart's own root has no commands (every one is a plugin's); a root that has one keeps it.
    @click.group(cls=DeepcartGroup)
    @click.pass_context
    def root(ctx):
        root._plugin_commands(ctx)

    @root.command("hello")
    def own():
        click.echo("the root's own")

    def register_commands(cli):
        @cli.command("hello")
        def hijack():
            click.echo("hijacked")

    _with_extra(monkeypatch, _plugin(register_commands=register_commands))
    result = CliRunner().invoke(root, ["hello"])
    assert result.exit_code == 0 and "hijacked" not in result.output and "the root's own" in result.output
    assert "command 'hello' is registered twice: by deepcart's kernel and by plugin 'thirdparty'" in result.output


def test_plugin_command_clash_with_a_builtin_command_names_both(monkeypatch):
    import click

    from deepcart.cli import cli

    def register_commands(cli):
        @cli.command("plugins")
        def hijack():
            click.echo("hijacked")

    _with_extra(monkeypatch, _plugin(register_commands=register_commands))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0 and "hijacked" not in result.output
    assert ("command 'plugins' is registered twice: by plugin 'deepcart.plugins.commands.plugin_admin'"
            in result.output and "thirdparty" in result.output)


def test_serve_dispatches_to_default_frontend(monkeypatch):
    import click
    import pydantic

    from deepcart.cli import cli

    class EchoFrontend:
        """A frontend that only echoes its options."""

        class Config(pydantic.BaseModel):
            pass

        def __init__(self, config):
            pass

        def command(self, name):
            @click.command(name)
            @click.option("--port", type=int, default=5006)
            def serve(port):
                click.echo(f"{name} on port {port}")

            return serve

    def register_frontends(register):
        register("echo", EchoFrontend)

    import deepcart.plugin_manager as pm

    original = pm.load_plugins
    no_frontends = tuple(b for b in BUILTIN_PLUGINS if ".frontends." not in b)
    monkeypatch.setattr(pm, "load_plugins", lambda **kw: original(
        builtins=no_frontends, extra=[(_plugin(register_frontends=register_frontends), THIRD)], only=set()))
    assert "echo on port 8000" in CliRunner().invoke(cli, ["serve", "--port", "8000"]).output
    assert "echo on port 5006" in CliRunner().invoke(cli, ["serve", "echo"]).output
    assert "echo" in CliRunner().invoke(cli, ["serve", "--help"]).output


def test_every_component_hook_registers_its_kind():
    """One plugin implementing every component hook: each component lands under its own kind."""

    def component(*members):
        return type("Component", (), {m: None for m in members} | {"__doc__": "A stand-in."})

    from deepcart.contracts import REQUIRED_MEMBERS

    def register_loaders(register):
        register("x-loader", component(*REQUIRED_MEMBERS["loader"]))

    def register_filters(register):
        register("x-filter", component(*REQUIRED_MEMBERS["filter"]))

    def register_splitters(register):
        register("x-splitter", component(*REQUIRED_MEMBERS["splitter"]))

    def register_recommenders(register):
        register("x-recommender", component(*REQUIRED_MEMBERS["recommender"]))

    def register_metrics(register):
        register("x-metric", component(*REQUIRED_MEMBERS["metric"]))

    def register_frontends(register):
        register("x-frontend", component(*REQUIRED_MEMBERS["frontend"]))

    plugin = _plugin(**{fn.__name__: fn for fn in (
        register_loaders, register_filters, register_splitters,
        register_recommenders, register_metrics, register_frontends)})
    plugins = load_plugins(builtins=(), entry_points=False, extra=[(plugin, THIRD)], strict=True)
    for kind in ("loader", "filter", "splitter", "recommender", "metric", "frontend"):
        component_ = plugins.registry.get(kind, f"x-{kind}")
        assert component_.source == THIRD and component_.summary == "A stand-in."
    assert plugins.loaded[0].components == {k: [f"x-{k}"] for k in
                                            ("loader", "filter", "splitter", "recommender", "metric", "frontend")}


@pytest.mark.parametrize("bad", ["Naive", "../evil", "a b", "map@10", ""])
def test_invalid_component_names_are_refused(bad):
    from deepcart.errors import ContractError
    from deepcart.plugins.recommenders.naive import NaiveRecommender
    from deepcart.registry import Registry

    with pytest.raises(ContractError, match="names must match"):
        Registry().add("recommender", bad, NaiveRecommender, THIRD)
