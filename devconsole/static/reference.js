"use strict";
// The API reference: /openapi.json (OpenAPI 2) rendered as a page, with
// no third-party renderer. Every string of the document goes in as text.
(async () => {
  const $ = (id) => document.getElementById(id);
  let doc;
  try {
    doc = await (await fetch("/openapi.json")).json();
  } catch (e) {
    $("ops").append(el("p", {class: "warn", text: "Could not load /openapi.json: " + e}));
    return;
  }
  const refName = (ref) => ref.replace("#/definitions/", "");
  // prose joins the lines of a proto comment, keeping its paragraphs.
  const prose = (s) => (s || "").replace(/([^\n])\n(?!\n)/g, "$1 ");
  const anchor = (s) => s.replace(/[^A-Za-z0-9_-]/g, "-");

  // typeOf describes a schema in one line; named schemas link to theirs.
  function typeOf(s) {
    if (!s) return document.createTextNode("");
    if (s.$ref) {
      const n = refName(s.$ref);
      return el("a", {href: "#schema-" + anchor(n), text: n});
    }
    if (s.type === "array") return el("span", {}, "array of ", typeOf(s.items));
    if (s.type === "object" && s.additionalProperties) return el("span", {}, "map of ", typeOf(s.additionalProperties));
    return document.createTextNode((s.type || "object") + (s.format ? " (" + s.format + ")" : "") + (s.enum ? ": " + s.enum.join(" | ") : ""));
  }

  function fieldsTable(s) {
    const props = Object.entries(s.properties || {});
    if (props.length === 0) return el("p", {class: "note", text: s.type === "object" || !s.type ? "(no fields)" : ""}, typeOf(s));
    const tbody = el("tbody");
    for (const [name, p] of props) {
      tbody.append(el("tr", {}, el("td", {class: "name", text: name}), el("td", {}, typeOf(p)),
        el("td", {text: prose([p.title, p.description].filter(Boolean).join("\n\n"))})));
    }
    return el("table", {class: "schema"}, el("thead", {}, el("tr", {}, el("th", {text: "Field"}), el("th", {text: "Type"}), el("th", {text: "Description"}))), tbody);
  }

  $("title").textContent = (doc.info && doc.info.title ? doc.info.title : "API") + " API reference" + (doc.info && doc.info.version ? " (" + doc.info.version + ")" : "");
  $("intro").textContent = (doc.info && doc.info.description) || "";
  const bearer = doc.securityDefinitions && doc.securityDefinitions.Bearer;
  if (bearer) $("auth").textContent = "Authorization header: " + bearer.description;

  // Operations by tag (the gRPC service), in the document's tag order.
  const byTag = new Map((doc.tags || []).map((t) => [t.name, {tag: t, ops: []}]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "Other";
      if (!byTag.has(tag)) byTag.set(tag, {tag: {name: tag}, ops: []});
      byTag.get(tag).ops.push({path, method, op});
    }
  }
  for (const {tag, ops} of byTag.values()) {
    if (ops.length === 0) continue;
    ops.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
    $("toc").append(el("h3", {text: tag.name}));
    const section = el("section", {id: "tag-" + anchor(tag.name)}, el("h2", {text: tag.name}));
    if (tag.description) section.append(el("p", {class: "desc", text: prose(tag.description)}));
    for (const {path, method, op} of ops) {
      const id = "op-" + anchor(op.operationId || method + path);
      $("toc").append(el("a", {href: "#" + id, text: method.toUpperCase() + " " + path}));
      const card = el("article", {class: "card op " + method, id, "data-operation": op.operationId || ""},
        el("div", {}, el("span", {class: "method", text: method}), el("span", {class: "path", text: path})),
        el("div", {class: "summary", text: op.summary || ""}),
        el("div", {class: "desc", text: prose(op.description)}));
      if (Array.isArray(op.security) && op.security.length === 0) card.append(el("p", {class: "note", text: "No authorization."}));
      const params = op.parameters || [];
      const nonBody = params.filter((p) => p.in !== "body");
      if (nonBody.length) {
        const tbody = el("tbody");
        for (const p of nonBody) {
          tbody.append(el("tr", {}, el("td", {class: "name", text: p.name}), el("td", {text: p.in + (p.required ? ", required" : "")}),
            el("td", {}, typeOf(p.type ? p : p.schema)), el("td", {text: p.description || ""})));
        }
        card.append(el("h3", {text: "Parameters"}), el("table", {class: "schema"}, tbody));
      }
      const body = params.find((p) => p.in === "body");
      if (body && body.schema) {
        const s = body.schema.$ref ? (doc.definitions || {})[refName(body.schema.$ref)] || {} : body.schema;
        card.append(el("h3", {}, "Request body: ", typeOf(body.schema)), fieldsTable(s));
      }
      const responses = Object.entries(op.responses || {});
      const rt = el("tbody");
      for (const [code, r] of responses) {
        rt.append(el("tr", {}, el("td", {class: "name", text: code}), el("td", {}, typeOf(r.schema)), el("td", {text: r.description || ""})));
      }
      card.append(el("h3", {text: "Responses"}), el("table", {class: "schema"}, rt));
      section.append(card);
    }
    $("ops").append(section);
  }
  for (const [name, s] of Object.entries(doc.definitions || {}).sort((a, b) => a[0].localeCompare(b[0]))) {
    $("schemas").append(el("article", {class: "card", id: "schema-" + anchor(name)},
      el("h3", {text: name}), s.description ? el("p", {class: "desc", text: prose(s.description)}) : null, fieldsTable(s)));
  }
})();
