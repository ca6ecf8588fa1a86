// The Teams personal tab: sign in with Teams (single sign-on), then ask the bot for the report with that token.
"use strict";
(function () {
  var status = document.getElementById("signin");
  function say(text) {
    if (status) { status.textContent = text; }
  }
  function show(html) {
    var target = document.getElementById("report");
    target.innerHTML = html;  // the bot's own HTML, every value escaped on the server
    if (status) { status.hidden = true; }
    if (window.copbotWirePrint) { window.copbotWirePrint(); }
  }
  function load(token) {
    var query = new URLSearchParams(window.location.search);
    var cop = query.get("cop");
    var url = "/report/api/page" + (cop ? "?cop=" + encodeURIComponent(cop) : "");
    return fetch(url, { headers: { "Authorization": "Bearer " + token }, credentials: "omit" })
      .then(function (response) {
        return response.text().then(function (body) {
          if (!response.ok) { throw new Error(body || ("the bot answered " + response.status)); }
          show(body);
        });
      });
  }
  function start() {
    var teams = window.microsoftTeams;
    if (!teams) { say("The Teams library did not load; open this tab inside Microsoft Teams."); return; }
    teams.app.initialize()
      .then(function () { return teams.authentication.getAuthToken(); })
      .then(load)
      .then(function () { teams.app.notifySuccess(); })
      .catch(function (error) {
        say("The report could not be shown: " + (error && error.message ? error.message : error));
      });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
