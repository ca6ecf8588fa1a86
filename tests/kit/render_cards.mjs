// Parses, validates and renders a batch of Adaptive Cards with the official `adaptivecards` renderer in jsdom.
//
// stdin:  {"<card id>": <card JSON>, ...}
// stdout: {"renderer": "<adaptivecards version>", "results": {"<card id>": ["problem", ...], ...}}
//
// One process handles the whole batch (tests/kit/cards_check.py starts it once per test session). Problems are
// the renderer's own: parse events logged on the SerializationContext (unknown element or action types,
// invalid property values, wrong version, ...), the failures of card.validateProperties() (duplicate ids,
// required inputs without label, ...) and render failures (an exception, or no element produced).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const require = createRequire(import.meta.url);

const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
// The renderer expects a browser: expose jsdom's window globals (document, HTMLInputElement, ...) that node lacks.
for (const name of Object.getOwnPropertyNames(dom.window)) {
  if (name in globalThis) continue;
  let value;
  try {
    value = dom.window[name];
  } catch {
    continue; // e.g. localStorage, which jsdom refuses for an opaque origin
  }
  Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
}
// The library logs to the console; stdout carries the results, so send its chatter to stderr.
console.log = console.info = console.warn = (...args) => process.stderr.write(`${args.join(" ")}\n`);

// lib/ is ES-module source with extensionless imports that node cannot load; dist/ is the UMD bundle.
const AC = require("adaptivecards/dist/adaptivecards.js");
const { version: rendererVersion } = require("adaptivecards/package.json");

// Teams renders a subset of markdown; this only marks the text as processed (escaped), which is all rendering needs.
AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
  result.outputHtml = text.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);
  result.didProcess = true;
};

// Teams renders schema 1.5 (DESIGN.md §4): parse as a 1.5 host would.
const TARGET = AC.Versions.v1_5;
const EVENT = AC.ValidationEvent;
const PHASE = AC.ValidationPhase;

function describe(event) {
  const where = event.source && typeof event.source.getJsonTypeName === "function" ? event.source.getJsonTypeName() : "";
  const id = event.source && event.source.id ? `#${event.source.id}` : "";
  const label = `${PHASE[event.phase] ?? event.phase}/${EVENT[event.event] ?? event.event}`;
  return `${label}${where ? ` in ${where}${id}` : ""}: ${event.message}`;
}

function check(payload) {
  const problems = [];
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext(TARGET);
  try {
    card.parse(payload, context);
  } catch (error) {
    return [`parse failed: ${error && error.message ? error.message : String(error)}`];
  }
  for (let i = 0; i < context.eventCount; i++) {
    problems.push(describe(context.getEventAt(i)));
  }
  let validation;
  try {
    validation = card.validateProperties();
  } catch (error) {
    problems.push(`validateProperties failed: ${error && error.message ? error.message : String(error)}`);
  }
  for (const event of validation ? validation.validationEvents : []) {
    problems.push(describe(event));
  }
  try {
    const element = card.render();
    if (!element) {
      problems.push("render produced no element");
    } else {
      dom.window.document.body.appendChild(element);
      if (!element.textContent && element.querySelectorAll("*").length === 0) {
        problems.push("render produced an empty element");
      }
      element.remove();
    }
  } catch (error) {
    problems.push(`render failed: ${error && error.message ? error.message : String(error)}`);
  }
  return problems;
}

const input = JSON.parse(readFileSync(0, "utf8"));
const results = {};
for (const [id, payload] of Object.entries(input)) {
  results[id] = check(payload);
}
process.stdout.write(JSON.stringify({ renderer: rendererVersion, results }));
