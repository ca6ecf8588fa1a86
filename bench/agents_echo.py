"""The second baseline: the Microsoft 365 Agents SDK's stock echo agent, written as the SDK's samples write it
(microsoft/Agents-for-python test_samples/app_style/empty_agent.py and shared/start_server.py): an
``AgentApplication[TurnState]`` on ``MemoryStorage`` with an ``Authorization``, the aiohttp ``CloudAdapter`` behind
``start_agent_process``, and ``jwt_authorization_middleware`` reading ``app["agent_configuration"]``. Nothing patched
or tuned.

The samples load their configuration from a .env with ``load_configuration_from_env``; here there is no app
registration, so the one setting is the documented one for local, anonymous use
(``CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED=true``). The agent then accepts requests without an
Authorization header and its per-turn connector client sends replies to the activity's serviceUrl with no token.

The only departure from the sample's layout: the agent's routes live in a sub-application under /api that carries the
JWT middleware, so that the bench's /healthz (on the root application) is outside it.
"""

from __future__ import annotations

import sys

from aiohttp import web
from microsoft_agents.activity import load_configuration_from_env
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware, start_agent_process
from microsoft_agents.hosting.core import AgentApplication, Authorization, MemoryStorage, TurnContext, TurnState

# what the samples' .env would hold for an agent run locally without an app registration
LOCAL_ANONYMOUS = {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true"}


def build_agent() -> tuple[AgentApplication[TurnState], CloudAdapter, MsalConnectionManager]:
    agents_sdk_config = load_configuration_from_env(LOCAL_ANONYMOUS)

    storage = MemoryStorage()
    connection_manager = MsalConnectionManager(**agents_sdk_config)
    adapter = CloudAdapter(connection_manager=connection_manager)
    authorization = Authorization(storage, connection_manager, **agents_sdk_config)

    agent_app = AgentApplication[TurnState](
        storage=storage, adapter=adapter, authorization=authorization, **agents_sdk_config
    )

    @agent_app.activity("message")
    async def on_message(context: TurnContext, _state: TurnState) -> None:
        await context.send_activity(f"Echo: {context.activity.text}")

    return agent_app, adapter, connection_manager


def build_app() -> web.Application:
    agent_app, adapter, connection_manager = build_agent()

    async def entry_point(request: web.Request) -> web.StreamResponse:
        agent: AgentApplication[TurnState] = request.app["agent_app"]
        adapter: CloudAdapter = request.app["adapter"]
        response = await start_agent_process(request, agent, adapter)
        return response if response is not None else web.Response(status=202)  # the SDK answers None for none

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    api = web.Application(middlewares=[jwt_authorization_middleware])
    api.router.add_post("/messages", entry_point)

    async def probe(_: web.Request) -> web.Response:
        return web.Response(status=200)

    api.router.add_get("/messages", probe)  # as the sample's start_server
    api["agent_configuration"] = connection_manager.get_default_connection_configuration()
    api["agent_app"] = agent_app
    api["adapter"] = adapter  # the sample reads agent_app.adapter, deprecated in 1.9: the same object

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.add_subapp("/api", api)
    return app


def main() -> None:
    port = int(sys.argv[1])
    web.run_app(build_app(), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
