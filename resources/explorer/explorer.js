// The HAL and HAL-FORMS explorer of the microblog API.
//
// Every string that comes from the API (values, hrefs, headers, problems)
// goes into the page as text or as an attribute value, never as markup: a
// post body such as "<script>…</script>" must stay a string.

const FORMS = 'application/prs.hal-forms+json';
const MAX_RESPONSES = 20;
const MAX_DEPTH = 4;
const SECRET_MEMBERS = new Set(['password', 'old_password', 'token']);
const INPUT_TYPES = new Set(['hidden', 'text', 'textarea', 'search', 'tel', 'url', 'email', 'password',
  'date', 'month', 'week', 'time', 'datetime-local', 'number', 'range', 'color']);
const REASONS = {
  200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request',
  401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 409: 'Conflict', 412: 'Precondition Failed', 413: 'Content Too Large',
  415: 'Unsupported Media Type', 428: 'Precondition Required', 500: 'Internal Server Error',
};

// The page lives at <prefix>explorer/ and the API at <prefix>api, so that
// the explorer works behind a proxy that adds a path prefix.
const prefix = location.pathname.replace(/explorer\/[^/]*$/, '');
const apiRoot = `${prefix}api`;

const state = {
  token: null, // the bearer token: in this variable only, never in storage
  tokensHref: null, // where the token came from, to revoke it
  root: null, // the root document, for mb:tokens and mb:me
  shown: null, // the path of the resource on screen (or being fetched)
  self: null, // its self href, the target of templates without one
  etag: null, // its ETag, which deleting an account sends as If-Match
  username: null, // its username, if it is a user
  seq: 0, // the number of the latest navigation
  searches: 0, // the number of the latest search, or of a page of its results
  ids: 0, // for unique element ids
};

const $ = (id) => document.getElementById(id);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const asArray = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const uid = () => `f${++state.ids}`;

// el builds an element. Children that are strings become text nodes;
// attribute values are set with setAttribute, so neither can become markup.
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c !== undefined && c !== null && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// apiPath returns href as a normalized same-origin path under the API, or
// null for anything else (another origin, another part of the site).
function apiPath(href) {
  if (typeof href !== 'string' || !href.startsWith('/') || href.startsWith('//') || href.includes('\\')) {
    return null;
  }
  let url;
  try {
    url = new URL(href, location.origin);
  } catch {
    return null;
  }
  if (url.origin !== location.origin) return null;
  if (url.pathname !== apiRoot && !url.pathname.startsWith(`${apiRoot}/`)) return null;
  return url.pathname + url.search;
}

// locationPath turns a Location header (a path or a URL) into an API path.
function locationPath(value) {
  if (!value) return null;
  try {
    const url = new URL(value, location.href);
    return url.origin === location.origin ? apiPath(url.pathname + url.search) : null;
  } catch {
    return null;
  }
}

const hashPath = () => apiPath(location.hash.slice(1) || apiRoot);

function linkHref(doc, rel) {
  const link = isObject(doc?._links) ? asArray(doc._links[rel])[0] : undefined;
  return isObject(link) && typeof link.href === 'string' ? link.href : null;
}

// --- RFC 6570, the forms the API uses: {var}, {/var}, {.var}, {?a,b}, {&a}.

const EXPRESSION = /\{([+#./;?&]?)([^}]*)\}/g;

const varNames = (list) => list.split(',').map((v) => v.trim().replace(/(\*|:\d+)$/, '')).filter(Boolean);

function templateVars(template) {
  const vars = [];
  for (const [, op, list] of template.matchAll(EXPRESSION)) {
    for (const name of varNames(list)) {
      if (!vars.some((v) => v.name === name)) vars.push({ name, inQuery: op === '?' || op === '&' });
    }
  }
  return vars;
}

const encode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function expand(template, values) {
  return template.replace(EXPRESSION, (_, op, list) => {
    const names = varNames(list).filter((n) => values[n] !== undefined && values[n] !== '');
    if (names.length === 0) return '';
    if (op === '?' || op === '&') return op + names.map((n) => `${encode(n)}=${encode(values[n])}`).join('&');
    const lead = op === '/' || op === '.' || op === '#' ? op : '';
    return lead + names.map((n) => encode(values[n])).join(op === '/' || op === '.' ? op : ',');
  });
}

// --- Requests and what came back.

function base64(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function redact(key, value) {
  return SECRET_MEMBERS.has(key) && typeof value === 'string' ? '•••••• (hidden)' : value;
}

// exchange is the record of a request as the Responses list shows it, the
// Authorization header's credentials hidden.
function exchange(method, url, headers, shownBody) {
  const x = { method, url, requestHeaders: Object.entries(headers), status: 0 };
  if (shownBody !== undefined) x.requestBody = JSON.stringify(shownBody, redact, 2);
  if (x.requestHeaders.some(([k]) => k === 'Authorization')) {
    x.requestHeaders = x.requestHeaders.map(([k, v]) => [k, k === 'Authorization' ? `${v.split(' ')[0]} ••••••` : v]);
  }
  return x;
}

// received records in x what res says, and its body, text.
function received(x, res, text) {
  x.status = res.status;
  x.statusText = res.statusText || REASONS[res.status] || '';
  x.ok = res.ok;
  x.headers = [...res.headers];
  x.header = (name) => res.headers.get(name);
  x.type = (res.headers.get('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  x.text = text;
  if (x.text && /[/+]json$/.test(x.type)) {
    try {
      x.data = JSON.parse(x.text);
    } catch {
      x.data = undefined;
    }
  }
  if (x.type === 'application/problem+json' && isObject(x.data)) x.problem = x.data;
  if (res.status === 401 && state.token && /invalid_token/.test(res.headers.get('WWW-Authenticate') ?? '')) {
    forgetToken();
    x.note = 'The token is no longer valid: log in again.';
  }
}

// request sends one request with the token (or the given Authorization),
// shows the exchange, and returns it; null when the network failed. A quiet
// one, which the page makes by itself, goes to the Responses list only and
// leaves the status line to what the user did.
async function request(method, url, { body, contentType, authorization, shownBody, quiet, ifMatch } = {}) {
  const headers = { Accept: FORMS };
  if (authorization) headers.Authorization = authorization;
  else if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (ifMatch) headers['If-Match'] = ifMatch;
  if (body !== undefined) headers['Content-Type'] = contentType;
  const x = exchange(method, url, headers, body === undefined ? undefined : shownBody ?? body);
  let res;
  let text;
  try {
    // credentials: 'omit' keeps cookies out and the browser's own Basic
    // dialog away; no-store shows what the server says now.
    res = await fetch(url, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    text = method === 'HEAD' ? '' : await res.text();
  } catch (err) {
    x.error = String(err);
    showExchange(x, quiet);
    return null;
  }
  received(x, res, text);
  showExchange(x, quiet);
  return x;
}

function statusClass(status) {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 300 && status < 400) return 'redirect';
  return 'error';
}

function headerTable(rows) {
  const body = el('tbody');
  for (const [name, value] of rows) body.append(el('tr', {}, el('th', { scope: 'row' }, name), el('td', {}, value)));
  return el('table', { class: 'headers' }, body);
}

function problemParts(p, status) {
  const params = el('ul', { class: 'params' });
  for (const ip of asArray(p.invalid_params)) {
    if (isObject(ip)) params.append(el('li', {}, el('code', {}, ip.name ?? '?'), ': ', ip.reason ?? ''));
  }
  return {
    title: `${p.status ?? status} ${p.title ?? ''}`.trim(),
    detail: typeof p.detail === 'string' ? p.detail : '',
    params,
  };
}

// problemNode shows a problem document where it was met.
function problemNode(p, status) {
  const parts = problemParts(p, status);
  return el('div', { class: 'problem' }, el('strong', {}, parts.title), el('p', {}, parts.detail), parts.params);
}

// showExchange adds x to the Responses list and, unless it is quiet, says
// in the status line (and the problem box) how it went.
function showExchange(x, quiet) {
  const line = x.error ? `network error: ${x.error}` : `${x.status} ${x.statusText}`.trim();
  if (!quiet) {
    const status = $('status');
    status.textContent = `${x.method} ${x.url} → ${line}${x.note ? `. ${x.note}` : ''}`;
    status.dataset.status = String(x.status);
    status.className = `status ${statusClass(x.status)}`;

    const box = $('problem');
    box.hidden = !x.problem;
    if (x.problem) {
      const parts = problemParts(x.problem, x.status);
      $('problem-title').textContent = parts.title;
      $('problem-detail').textContent = parts.detail;
      $('problem-params').replaceChildren(...parts.params.childNodes);
    }
  }

  // A quiet exchange leaves open what the user opened.
  const list = $('responses');
  if (!quiet) for (const d of list.querySelectorAll('details[open]')) d.open = false;
  const details = el('details', { open: !quiet },
    el('summary', {}, el('span', { class: 'method' }, x.method), ' ', el('code', {}, x.url), ' ',
      el('strong', { class: 'code' }, line)));
  details.append(el('p', { class: 'caption' }, 'Request headers'), headerTable(x.requestHeaders));
  if (x.requestBody !== undefined) details.append(el('p', { class: 'caption' }, 'Request body'), el('pre', {}, x.requestBody));
  if (x.problem) details.append(problemNode(x.problem, x.status));
  if (x.headers) details.append(el('p', { class: 'caption' }, 'Response headers'), headerTable(x.headers));
  if (x.stream) details.append(el('p', { class: 'caption' }, `Response body: ${x.stream}`));
  if (x.text) {
    const shown = x.data !== undefined ? JSON.stringify(x.data, redact, 2) : x.text.slice(0, 100000);
    details.append(el('p', { class: 'caption' }, 'Response body'), el('pre', { class: 'body' }, shown));
  }
  list.prepend(el('li', {
    class: statusClass(x.status), 'data-method': x.method, 'data-url': x.url, 'data-status': x.status,
  }, details));
  while (list.children.length > MAX_RESPONSES) list.lastElementChild.remove();
}

function say(message) {
  const status = $('status');
  status.textContent = message;
  delete status.dataset.status;
  status.className = 'status error';
  $('problem').hidden = true;
}

// --- The resource on screen.

function valueNode(v) {
  if (v !== null && typeof v === 'object') return el('pre', {}, JSON.stringify(v, null, 2));
  if (v === '') return el('code', { class: 'none', title: 'an empty string' }, '""');
  if (typeof v === 'string') return el('span', { class: 'string' }, v);
  return el('code', {}, JSON.stringify(v));
}

function fillProperties(tbody, doc) {
  tbody.replaceChildren();
  for (const [k, v] of Object.entries(doc)) {
    if (k === '_links' || k === '_embedded' || k === '_templates') continue;
    tbody.append(el('tr', { 'data-property': k }, el('th', { scope: 'row' }, k), el('td', {}, valueNode(v))));
  }
  if (!tbody.children.length) tbody.append(el('tr', {}, el('td', { class: 'none' }, 'No properties.')));
}

// relLabel names a rel, linking a curied one to its documentation.
function relLabel(rel, curies) {
  const [name, ref] = rel.includes(':') ? rel.split(/:(.*)/s) : [];
  const curie = curies.find((c) => isObject(c) && c.name === name && typeof c.href === 'string');
  const doc = curie && apiPath(expand(curie.href, { rel: ref }));
  return doc ? el('a', { class: 'rel rel-doc', href: `#${doc}`, title: `Documentation of ${rel}` }, rel)
    : el('span', { class: 'rel' }, rel);
}

function templatedLink(link) {
  const form = el('form', { class: 'templated', 'data-href': link.href }, el('code', {}, link.href));
  for (const v of templateVars(link.href)) {
    const id = uid();
    form.append(el('span', { class: 'var' }, el('label', { for: id }, v.name),
      el('input', { id, name: v.name, required: !v.inQuery, size: 6, autocomplete: 'off' })));
  }
  form.append(el('button', { type: 'submit' }, 'Go'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const href = expand(link.href, values);
    const path = apiPath(href);
    if (path) go(path);
    else say(`${href} is not a path under ${apiRoot}: not followed.`);
  });
  return form;
}

function linkNode(rel, link, top) {
  if (!isObject(link) || typeof link.href !== 'string') return el('span', { class: 'none' }, '(a link with no href)');
  const path = apiPath(link.href);
  // A link the API names (a tag, a mentioned user, an author) is labelled
  // with its name, and its href follows.
  const named = path && rel !== 'curies' && link.templated !== true && typeof link.name === 'string' && link.name !== '';
  const extra = ['title', 'name', 'type', 'hreflang', 'deprecation']
    .filter((k) => typeof link[k] === 'string' && !(named && k === 'name'))
    .map((k) => el('span', { class: 'attr' }, ` ${k}: ${link[k]}`));
  if (rel === 'curies') return el('span', {}, el('code', {}, link.href), ...extra, el('span', { class: 'attr' }, ' (curie)'));
  if (link.templated === true) return el('span', {}, templatedLink(link), ...extra);
  // An avatar is an image, not a HAL resource: shown, never followed. It
  // comes from the API, or from Gravatar for a user who chose it (the CSP
  // allows the page itself and that host, nothing else).
  if (rel === 'mb:avatar' && (path || link.href.startsWith('https://www.gravatar.com/'))) {
    const text = el('code', { class: 'external' }, link.href);
    if (!top) return el('span', {}, text, ...extra);
    const img = el('img', { class: 'avatar', src: path ?? link.href, alt: 'avatar', width: 64, height: 64 });
    img.addEventListener('error', () => { img.hidden = true; });
    return el('span', {}, img, text, ...extra);
  }
  if (named) {
    return el('span', {}, el('a', { class: 'link', href: `#${path}` }, link.name),
      el('code', { class: 'attr' }, ` ${link.href}`), ...extra);
  }
  if (path) return el('span', {}, el('a', { class: 'link', href: `#${path}` }, link.href), ...extra);
  // Not the API: shown, never followed.
  return el('span', {}, el('code', { class: 'external' }, link.href), ...extra);
}

function fillLinks(list, doc, top) {
  list.replaceChildren();
  const links = isObject(doc._links) ? doc._links : {};
  const curies = asArray(links.curies);
  for (const [rel, value] of Object.entries(links)) {
    const hrefs = el('ul', { class: 'hrefs' });
    for (const link of asArray(value)) hrefs.append(el('li', {}, linkNode(rel, link, top)));
    if (Array.isArray(value) && value.length === 0) hrefs.append(el('li', { class: 'none' }, 'none (an empty array)'));
    list.append(el('li', { 'data-rel': rel }, relLabel(rel, curies), hrefs));
  }
  if (!list.children.length) list.append(el('li', { class: 'none' }, 'No links.'));
}

function itemLabel(item) {
  for (const k of ['username', 'title', 'name', 'body']) {
    if (typeof item[k] === 'string' && item[k] !== '') return item[k].length > 80 ? `${item[k].slice(0, 79)}…` : item[k];
  }
  return item.id !== undefined ? `#${item.id}` : linkHref(item, 'self') ?? '(no self link)';
}

function embeddedItem(item, depth) {
  const path = apiPath(linkHref(item, 'self'));
  const summary = el('summary', {}, el('span', { class: 'label' }, itemLabel(item)));
  if (path) summary.append(' ', el('a', { class: 'open', href: `#${path}` }, `open ${path}`));
  const properties = el('tbody');
  fillProperties(properties, item);
  const links = el('ul', { class: 'links' });
  fillLinks(links, item, false);
  const details = el('details', { class: 'item', 'data-self': path ?? undefined }, summary,
    el('table', { class: 'properties' }, properties), links);
  if (depth < MAX_DEPTH) {
    const nested = el('div', { class: 'nested' });
    fillEmbedded(nested, item, depth);
    if (nested.querySelector('[data-embedded-rel]')) details.append(nested);
  }
  return details;
}

function fillEmbedded(box, doc, depth) {
  box.replaceChildren();
  const embedded = isObject(doc._embedded) ? doc._embedded : {};
  for (const [rel, value] of Object.entries(embedded)) {
    const items = asArray(value).filter(isObject);
    const group = el('section', { class: 'embedded', 'data-embedded-rel': rel },
      el('p', { class: 'caption' }, el('code', {}, rel), ` (${items.length})`));
    for (const item of items) group.append(embeddedItem(item, depth + 1));
    box.append(group);
  }
  if (!depth && !box.children.length) box.append(el('p', { class: 'none' }, 'Nothing embedded.'));
}

// --- HAL-FORMS templates.

// htmlPattern turns a template's regex into a pattern attribute, which is
// anchored already. A regex the browser cannot compile is left to the
// server to check.
function htmlPattern(regex) {
  if (typeof regex !== 'string' || regex === '') return null;
  let p = regex.startsWith('^') ? regex.slice(1) : regex;
  if (p.endsWith('$') && !p.endsWith('\\$')) p = p.slice(0, -1);
  try {
    new RegExp(`^(?:${p})$`, 'v'); // eslint-disable-line no-new
  } catch {
    return null;
  }
  return p;
}

function field(p) {
  const id = uid();
  const type = INPUT_TYPES.has(p.type) ? p.type : 'text';
  const input = type === 'textarea' ? el('textarea', { rows: 3 }) : el('input', { type });
  input.id = id;
  input.name = p.name;
  input.required = p.required === true;
  input.readOnly = p.readOnly === true;
  if (Number.isInteger(p.minLength)) input.minLength = p.minLength;
  if (Number.isInteger(p.maxLength)) input.maxLength = p.maxLength;
  for (const k of ['min', 'max', 'step']) if (typeof p[k] === 'number') input.setAttribute(k, String(p[k]));
  if (typeof p.placeholder === 'string') input.placeholder = p.placeholder;
  const pattern = type === 'textarea' ? null : htmlPattern(p.regex);
  if (pattern) input.pattern = pattern;
  if (p.value !== undefined && p.value !== null) input.value = String(p.value);
  if (type === 'hidden') return input;
  const label = el('label', { for: id }, typeof p.prompt === 'string' && p.prompt ? p.prompt : p.name,
    p.required === true ? el('span', { class: 'required', title: 'required' }, ' *') : null);
  return el('div', { class: 'field' }, label, input);
}

function templateForm(key, t) {
  const method = (typeof t.method === 'string' ? t.method : 'GET').toUpperCase();
  const target = typeof t.target === 'string' ? t.target : state.self;
  const props = asArray(t.properties).filter((p) => isObject(p) && typeof p.name === 'string');
  const title = typeof t.title === 'string' && t.title ? t.title : key;
  const form = el('form', { class: 'template', 'data-template': key, 'data-method': method });
  const fields = el('fieldset', {}, el('legend', {}, title),
    el('p', { class: 'target' }, el('span', { class: 'method' }, method), ' ', el('code', {}, target ?? '(none)'),
      ' ', el('span', { class: 'key' }, `template ${key}`)));
  for (const p of props) fields.append(field(p));
  const deletion = key === DELETE_ACCOUNT;
  if (deletion) fields.append(field({ name: CONFIRM, required: true, prompt: `Type ${state.username ?? 'your username'} to confirm` }));
  fields.append(el('button', { type: 'submit' }, title));
  form.append(fields);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (deletion) deleteAccount(form, target);
    else submitTemplate(form, t, method, target, props);
  });
  return form;
}

// DELETE_ACCOUNT is the template that deletes the caller's account, which
// the explorer sends only once the username is typed into the field
// CONFIRM, with the ETag of the user on screen as If-Match; then it forgets
// the token and returns to the root.
const DELETE_ACCOUNT = 'delete-account';
const CONFIRM = 'confirm-username';

async function deleteAccount(form, target) {
  const path = apiPath(target);
  if (!path || !state.username || form.elements.namedItem(CONFIRM).value !== state.username) {
    say(`Type the username ${state.username ?? ''} to delete the account: not sent.`);
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const x = await request('DELETE', path, { ifMatch: state.etag });
    if (x && x.status === 204) {
      forgetToken();
      go(apiRoot);
    }
  } finally {
    button.disabled = false;
  }
}

function fillTemplates(templates) {
  const entries = isObject(templates) ? Object.entries(templates).filter(([, t]) => isObject(t)) : [];
  $('templates').replaceChildren(...entries.map(([key, t]) => templateForm(key, t)));
  $('templates-section').hidden = entries.length === 0;
}

async function submitTemplate(form, t, method, target, props) {
  const path = apiPath(target);
  if (!path) {
    say(`The form's target ${target} is not a path under ${apiRoot}: not sent.`);
    return;
  }
  // Every property is sent as the form shows it, "" for an empty one, as
  // HAL-FORMS says: the server's forms hold the current values, so an
  // untouched field changes nothing and an emptied one empties the member.
  const values = {};
  for (const p of props) {
    const input = form.elements.namedItem(p.name);
    if (!input) continue;
    const numeric = (input.type === 'number' || input.type === 'range') && input.value !== '';
    values[p.name] = numeric ? Number(input.value) : input.value;
  }
  if (method === 'GET') {
    // In a query, an empty field is one the client leaves out.
    const query = new URLSearchParams(Object.entries(values).filter(([, v]) => v !== '')).toString();
    go(apiPath(query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path) ?? path);
    return;
  }
  let body;
  let contentType;
  if (props.length) {
    contentType = typeof t.contentType === 'string' && t.contentType ? t.contentType : 'application/json';
    body = contentType.includes('x-www-form-urlencoded') ? new URLSearchParams(values).toString() : JSON.stringify(values);
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const x = await request(method, path, { body, contentType, shownBody: values });
    if (x) afterSubmit(x, method, path);
  } finally {
    button.disabled = false;
  }
}

// afterSubmit shows what a form led to: the resource the server returned,
// the one it created, or the current one again.
function afterSubmit(x, method, path) {
  // An export's job resource (a new one, or the one running, to which the
  // 303 led) goes to the export panel; the resource shown stays.
  if (isJob(x.data) && apiPath(linkHref(x.data, 'self'))) {
    watchExport(x.data);
    if (state.shown) navigate(state.shown);
    return;
  }
  const created = locationPath(x.header('Location'));
  const self = apiPath(linkHref(x.data, 'self'));
  if ((x.status === 200 || x.status === 201) && isObject(x.data) && isObject(x.data._links)) {
    state.etag = x.header('ETag');
    show(x.status === 201 ? created ?? self ?? path : self ?? path, x.data);
  } else if (x.status === 201 && created && created !== path) {
    // What a POST created without a body is read; a PUT that created its
    // own target (a follow) has no body to show, so the current one is.
    go(created);
  } else if (x.ok) {
    if (method === 'DELETE' && path === state.self) go(apiRoot);
    else if (state.shown) navigate(state.shown);
  }
}

// --- Navigation. The fragment holds the path shown: #/api/users/2.

function render(path, doc) {
  const self = apiPath(linkHref(doc, 'self'));
  state.self = self ?? path;
  state.username = typeof doc.username === 'string' ? doc.username : null;
  $('resource').dataset.path = path;
  $('resource-title').textContent = self && self !== path ? `${path} (self: ${self})` : path;
  $('location').textContent = path;
  document.title = `${path} · Microblog API explorer`;
  $('resource-note').hidden = true;
  fillProperties($('properties').tBodies[0], doc);
  fillLinks($('links'), doc, true);
  fillTemplates(doc._templates);
  fillEmbedded($('embedded'), doc, 0);
  showSessions(doc);
  if (path === apiRoot) {
    state.root = doc;
    offerReset(doc);
  }
  // A page of the notifications, after mark-read say, tells the panel how
  // many are unread now.
  if (live.path && path.split('?')[0] === live.path.split('?')[0] && Number.isInteger(doc._meta?.unread)) {
    setUnread(doc._meta.unread);
  }
}

function renderNothing(path, x) {
  state.self = path;
  state.etag = null;
  state.username = null;
  $('resource').dataset.path = path;
  $('resource-title').textContent = path;
  $('location').textContent = path;
  const note = $('resource-note');
  note.hidden = false;
  note.textContent = x ? `No resource to show: the server answered ${x.status} ${x.statusText}.`
    : 'No resource to show: the request failed.';
  $('properties').tBodies[0].replaceChildren();
  $('links').replaceChildren();
  fillTemplates(undefined);
  $('embedded').replaceChildren();
  showSessions({});
}

// show puts a document the server sent on screen as path, and records path
// in the fragment without fetching it again.
function show(path, doc) {
  state.seq++;
  state.shown = path;
  render(path, doc);
  if (hashPath() !== path) location.hash = path;
}

async function navigate(path) {
  const seq = ++state.seq;
  state.shown = path;
  $('location').textContent = path;
  const x = await request('GET', path);
  if (seq !== state.seq) return; // a later navigation won
  state.etag = x?.header('ETag') ?? null;
  if (x && x.ok && isObject(x.data)) render(path, x.data);
  else renderNothing(path, x);
}

// go shows path: through the fragment, so that back and forward work.
function go(path) {
  if (hashPath() === path) navigate(path);
  else location.hash = path;
}

function onHashChange() {
  const path = hashPath();
  if (!path) {
    say(`Only paths under ${apiRoot} can be explored: ${location.hash.slice(1)}`);
    return;
  }
  if (path !== state.shown) navigate(path);
}

// --- The sessions of the caller's own user, which alone links them
// (mb:sessions). A session's Revoke is its template revoke, a DELETE of its
// self; "Revoke all others" is the list's template revoke-others.

const sessions = { seq: 0 };

function hideSessions() {
  sessions.seq++;
  $('sessions').hidden = true;
  $('sessions-list').replaceChildren();
}

// showSessions shows the sessions doc links, or hides the list when it
// links none.
async function showSessions(doc) {
  const link = isObject(doc._links) ? asArray(doc._links['mb:sessions'])[0] : undefined;
  const path = isObject(link) && typeof link.href === 'string'
    ? apiPath(link.templated === true ? expand(link.href, {}) : link.href) : null;
  if (!path) {
    hideSessions();
    return;
  }
  const seq = ++sessions.seq;
  $('sessions').hidden = false;
  $('sessions').setAttribute('aria-busy', 'true');
  const x = await request('GET', path, { quiet: true });
  if (seq !== sessions.seq) return; // another resource, or a newer read
  $('sessions').removeAttribute('aria-busy');
  const list = isObject(x?.data) ? asArray(x.data._embedded?.['mb:sessions']).filter(isObject) : [];
  $('sessions-list').replaceChildren(...list.map(sessionItem));
  const others = isObject(x?.data?._templates) ? x.data._templates['revoke-others'] : undefined;
  const button = $('sessions-revoke-others');
  button.hidden = !isObject(others) || !apiPath(others.target);
  button.dataset.target = button.hidden ? '' : apiPath(others.target);
  button.dataset.method = typeof others?.method === 'string' ? others.method.toUpperCase() : 'DELETE';
}

function sessionItem(s) {
  const self = apiPath(linkHref(s, 'self'));
  const current = s.current === true;
  const when = (label, v) => el('span', {}, `${label} `, typeof v === 'string' ? el('time', { datetime: v }, v) : '—');
  const button = el('button', { type: 'button', class: 'revoke', disabled: !self }, current ? 'Revoke (log out)' : 'Revoke');
  button.addEventListener('click', () => revokeSession('DELETE', self, current));
  return el('li', { class: 'session', 'data-self': self ?? undefined, 'data-current': String(current) },
    el('strong', { class: 'agent' }, typeof s.user_agent === 'string' ? s.user_agent : '(no user agent)'),
    current ? el('span', { class: 'current' }, 'this session') : null,
    el('div', { class: 'times' }, when('created', s.created_at), when('last used', s.last_used_at),
      when('expires', s.expires_at)),
    button);
}

// revokeSession sends the revocation, and then shows the list again; the
// revocation of the page's own token logs it out.
async function revokeSession(method, path, current) {
  if (!path) return;
  const x = await request(method, path);
  if (!x?.ok) return;
  if (current) {
    forgetToken();
    if (state.shown) navigate(state.shown);
  } else if (state.shown) {
    navigate(state.shown);
  }
}

// --- The search box. It knows no URL of the API: it expands the root's
// templated links, mb:search-users and mb:search-posts for words, mb:tag
// for "#tag" and mb:user-by-name for "@username".

// FOUND are the collections a search for words shows, side by side, by
// the id of their box.
const FOUND = { 'search-users': 'mb:search-users', 'search-posts': 'mb:search-posts' };
// JUMPS are the resources "#tag" and "@username" open, by their first
// character: the rel and the variable it is expanded with.
const JUMPS = { '#': ['mb:tag', 'tag'], '@': ['mb:user-by-name', 'username'] };
const PAGE_RELS = new Set(['first', 'prev', 'next', 'last']);

// relPath expands the link rel of the root with values into an API path,
// or says why it cannot.
function relPath(root, rel, values) {
  const link = isObject(root?._links) ? asArray(root._links[rel])[0] : undefined;
  if (!isObject(link) || typeof link.href !== 'string') {
    say(`The API root has no ${rel} link: cannot search.`);
    return null;
  }
  const href = link.templated === true ? expand(link.href, values) : link.href;
  const path = apiPath(href);
  if (!path) say(`${href} is not a path under ${apiRoot}: not followed.`);
  return path;
}

async function search(e) {
  e.preventDefault();
  const q = $('search-q').value;
  const seq = ++state.searches;
  const root = await loadRoot();
  if (seq !== state.searches) return; // a later search won
  if (!root) {
    say('The API root could not be read: cannot search.');
    return;
  }
  const jump = q.trim().match(/^([#@])(\S+)$/);
  if (jump) {
    const [rel, name] = JUMPS[jump[1]];
    const path = relPath(root, rel, { [name]: jump[2] });
    if (path) {
      closeSearch();
      go(path);
    }
    return;
  }
  // The words go as typed: the server judges them, and says why not.
  $('search-title').textContent = `Search for “${q}”`;
  $('search-results').hidden = false;
  await Promise.all(Object.entries(FOUND).map(([id, rel]) => {
    const path = relPath(root, rel, { q });
    return path ? showFound($(id), path) : $(id).replaceChildren();
  }));
}

// showFound shows in box the collection at path, a page of search results,
// as the explorer shows any resource.
async function showFound(box, path) {
  const seq = String(++state.searches);
  box.dataset.seq = seq;
  box.dataset.path = path;
  box.setAttribute('aria-busy', 'true');
  const x = await request('GET', path);
  if (box.dataset.seq !== seq) return; // a later search or page won
  box.removeAttribute('aria-busy');
  if (!x || !x.ok || !isObject(x.data)) {
    const why = x ? `The server answered ${x.status} ${x.statusText}.` : 'The request failed.';
    box.replaceChildren(x?.problem ? problemNode(x.problem, x.status) : el('p', { class: 'note' }, why));
    return;
  }
  const properties = el('tbody');
  fillProperties(properties, x.data);
  const links = el('ul', { class: 'links' });
  fillLinks(links, x.data, false);
  const found = el('div');
  fillEmbedded(found, x.data, 0);
  box.replaceChildren(el('table', { class: 'properties' }, properties), links, found);
}

// pageFound follows a paging link of search results in their own box;
// every other link opens in the resource view.
function pageFound(e) {
  const box = e.currentTarget;
  const a = e.target.closest('a.link');
  if (!a || a.closest('ul.links') !== box.querySelector(':scope > ul.links')) return;
  const path = apiPath(a.getAttribute('href').slice(1));
  if (!path || !PAGE_RELS.has(a.closest('li[data-rel]')?.dataset.rel)) return;
  e.preventDefault();
  showFound(box, path);
}

function closeSearch() {
  state.searches++;
  $('search-results').hidden = true;
  for (const id of Object.keys(FOUND)) {
    delete $(id).dataset.seq;
    $(id).replaceChildren();
  }
}

// --- The live notifications panel. It knows no URL of the API either: it
// expands the root's mb:notifications, reads one notification of that page
// for the unread count and the newest id, then asks the same URL for
// text/event-stream. It reads the stream with fetch, since an EventSource
// cannot send the token, from the response's body as it comes.

const EVENT_STREAM = 'text/event-stream';
const MAX_NOTIFICATIONS = 50;
// The waits before a new attempt after a stream failed or ended, in ms:
// the first, doubled at each failure in a row, up to the longest.
const RETRY_FIRST = 1000;
const RETRY_LONGEST = 30000;
// VERBS say what the actor did, by the notification's type.
const VERBS = {
  follow: 'followed you', reply: 'replied with', like: 'liked', mention: 'mentioned you in', message: 'wrote to you',
};

const live = {
  path: null, // the stream's path: mb:notifications, expanded
  run: 0, // the number of the latest start or stop: an older stream stops
  abort: null, // aborts the stream's fetch
  timer: null, // the attempt that waits
  lastId: null, // the id of the last event, sent back as Last-Event-ID
  failures: 0, // failed attempts in a row, for the backoff
  unread: 0,
};

// sseParser returns a function that takes the text of an event stream in
// chunks cut anywhere, and calls onEvent with each whole event, { id, type,
// data }, as the HTML standard interprets an event stream: lines end with
// CRLF, LF or CR; a line that starts with a colon is a comment; a field's
// value loses one leading space; data lines join with LF; an empty line
// ends the event, which has no effect without data; an id holds until the
// next. Fields other than id, event and data are ignored. It is exported
// for the end-to-end test, which imports the module the page runs.
export function sseParser(onEvent) {
  let buffer = '';
  let data = [];
  let type = '';
  let id = '';
  const line = (text) => {
    if (text === '') {
      if (data.length) onEvent({ id, type: type || 'message', data: data.join('\n') });
      data = [];
      type = '';
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') type = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
  };
  return (chunk) => {
    // A CR at the end may be the first half of a CRLF: it waits for the
    // next chunk.
    const lines = (buffer + chunk).split(/\r\n|\r(?!$)|\n/);
    buffer = lines.pop();
    for (const l of lines) line(l);
  };
}

function setLiveState(name, text) {
  $('notifications').dataset.state = name;
  $('notifications-state').textContent = text;
}

function setUnread(n) {
  live.unread = Number.isInteger(n) && n > 0 ? n : 0;
  $('notifications-unread').textContent = String(live.unread);
  $('notifications-unread').title = `${live.unread} unread`;
}

// notificationItem shows a notification of the stream: who did what, with
// links that open the actor and the subject in the main view.
function notificationItem(type, doc) {
  const actor = isObject(doc._links) ? asArray(doc._links['mb:actor'])[0] : undefined;
  const embedded = isObject(doc._embedded) ? asArray(doc._embedded['mb:actor'])[0] : undefined;
  const name = [actor?.name, embedded?.username].find((v) => typeof v === 'string' && v) ?? 'someone';
  const actorPath = apiPath(actor?.href);
  const subject = apiPath(linkHref(doc, 'mb:subject'));
  return el('li', { class: 'notification', 'data-id': doc.id, 'data-type': type },
    el('span', { class: 'ntype' }, type), ' ',
    actorPath ? el('a', { class: 'actor', href: `#${actorPath}` }, name) : el('strong', {}, name),
    ` ${VERBS[type] ?? type} `,
    subject ? el('a', { class: 'subject', href: `#${subject}` }, subject) : null,
    typeof doc.created_at === 'string' ? el('time', { datetime: doc.created_at }, doc.created_at) : null);
}

function onNotification(e) {
  let doc;
  try {
    doc = JSON.parse(e.data);
  } catch {
    return;
  }
  if (!isObject(doc)) return;
  if (doc.read !== true) setUnread(live.unread + 1);
  const list = $('notifications-list');
  list.prepend(notificationItem(typeof doc.type === 'string' ? doc.type : e.type, doc));
  while (list.children.length > MAX_NOTIFICATIONS) list.lastElementChild.remove();
}

// startLive opens the panel of the user who just logged in. The stream
// starts after the newest notification of the page read first, so that
// nothing that commits in between is missed, and none is counted twice.
async function startLive(root) {
  stopLive();
  const run = live.run;
  $('notifications').hidden = false;
  const link = isObject(root?._links) ? asArray(root._links['mb:notifications'])[0] : undefined;
  const expanded = (values) => (link.templated === true ? expand(link.href, values) : link.href);
  live.path = isObject(link) && typeof link.href === 'string' ? apiPath(expanded({})) : null;
  if (!live.path) {
    setLiveState('off', 'The API root has no mb:notifications link: no live notifications.');
    return;
  }
  $('notifications-all').setAttribute('href', `#${live.path}`);
  setLiveState('connecting', 'Reading the unread count…');
  const x = await request('GET', apiPath(expanded({ per_page: 1 })) ?? live.path, { quiet: true });
  if (run !== live.run) return;
  if (x?.ok && isObject(x.data)) {
    setUnread(x.data._meta?.unread);
    const newest = asArray(x.data._embedded?.['mb:notifications'])[0];
    live.lastId = String(Number.isInteger(newest?.id) ? newest.id : 0);
  }
  connect(run);
}

// connect opens the stream and reads it until it ends, then tries again.
async function connect(run) {
  const controller = new AbortController();
  live.abort = controller;
  setLiveState('connecting', 'Connecting…');
  const headers = { Accept: EVENT_STREAM, Authorization: `Bearer ${state.token}` };
  if (live.lastId) headers['Last-Event-ID'] = live.lastId;
  const x = exchange('GET', live.path, headers);
  let res;
  try {
    res = await fetch(live.path, { headers, cache: 'no-store', credentials: 'omit', signal: controller.signal });
  } catch (err) {
    if (run !== live.run) return;
    x.error = String(err);
    showExchange(x, true);
    retry(run, 'The stream could not be opened');
    return;
  }
  if (!(await streamOpened(run, x, res))) return;
  try {
    const push = sseParser((e) => {
      if (run !== live.run) return;
      live.lastId = e.id;
      onNotification(e);
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      live.failures = 0; // the stream works: a comment or an event came
      push(r.value);
    }
  } catch {
    // Aborted, or the connection dropped: either way the stream is over.
  }
  if (run === live.run) retry(run, 'The stream ended');
}

// streamOpened shows the stream's response and says whether it is a
// stream to read; if not, it tries again later or, when that cannot help,
// stops.
async function streamOpened(run, x, res) {
  const type = (res.headers.get('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  if (res.ok && type === EVENT_STREAM) {
    received(x, res, '');
    x.stream = 'an event stream, read as it comes by the Notifications panel';
    showExchange(x, true);
    if (run !== live.run) return false;
    setLiveState('live', 'Live: new notifications show here as they happen.');
    return true;
  }
  let text = '';
  try {
    text = await res.text();
  } catch {
    // What the body said is lost; the status is enough.
  }
  if (run !== live.run) return false;
  received(x, res, text); // a 401 for an invalid token logs out
  const transient = res.status === 429 || res.status >= 500;
  showExchange(x, transient);
  if (run !== live.run) return false;
  if (transient) retry(run, `The server answered ${res.status}`, Number(res.headers.get('Retry-After')));
  else setLiveState('off', `The server answered ${res.status} ${x.statusText}: no live notifications.`);
  return false;
}

// retry tries again after a wait that doubles with each failure in a row,
// and is at least what Retry-After asked for.
function retry(run, why, retryAfter) {
  const wait = Math.max(Math.min(RETRY_LONGEST, RETRY_FIRST * 2 ** live.failures),
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0);
  live.failures++;
  setLiveState('waiting', `${why}: trying again in ${Math.ceil(wait / 1000)} s.`);
  live.timer = setTimeout(() => {
    live.timer = null;
    if (run === live.run) connect(run);
  }, wait);
}

// stopLive closes the stream and empties the panel, as at logout: what it
// showed was the user's.
function stopLive() {
  live.run++;
  live.abort?.abort();
  live.abort = null;
  clearTimeout(live.timer);
  live.timer = null;
  live.path = null;
  live.lastId = null;
  live.failures = 0;
  setUnread(0);
  $('notifications-list').replaceChildren();
  $('notifications').hidden = true;
  setLiveState('closed', 'Closed.');
}

// --- The export panel. It knows no URL of the API: the template export of
// the own user answers with a job resource, which it polls by its self link
// every second, showing the progress, until it is done or failed. Once done,
// its button reads mb:download with the token, which a plain link could not
// send, and saves the file under the name Content-Disposition gives.

const EXPORT_POLL = 1000;

const exporting = {
  run: 0, // the number of the latest start or stop: an older poll stops
  timer: null, // the poll that waits
  download: null, // the path of the file, once done
};

const isJob = (doc) => isObject(doc) && typeof doc.state === 'string' && Number.isInteger(doc.progress);
const jobOver = (doc) => doc.state === 'done' || doc.state === 'failed';

function showExport(doc) {
  $('export').dataset.state = doc.state;
  $('export-progress').value = doc.progress;
  $('export-state').textContent = `${doc.state}: ${doc.progress}%, ${doc.post_count ?? 0} posts written`;
  exporting.download = doc.state === 'done' ? apiPath(linkHref(doc, 'mb:download')) : null;
  $('export-download').hidden = !exporting.download;
}

function watchExport(doc) {
  stopExport();
  const run = exporting.run;
  const path = apiPath(linkHref(doc, 'self'));
  $('export').hidden = false;
  showExport(doc);
  const poll = async () => {
    exporting.timer = null;
    const x = await request('GET', path, { quiet: true });
    if (run !== exporting.run) return;
    if (x?.ok && isJob(x.data)) showExport(x.data);
    // A job that is over, or gone (404, or a token no longer valid), is
    // not asked for again; after a network error or a 503 it is.
    let again = !x || x.status >= 500;
    if (x?.ok && isJob(x.data)) again = !jobOver(x.data);
    if (again) exporting.timer = setTimeout(poll, EXPORT_POLL);
  };
  if (!jobOver(doc)) exporting.timer = setTimeout(poll, EXPORT_POLL);
}

function stopExport() {
  exporting.run++;
  clearTimeout(exporting.timer);
  exporting.timer = null;
  exporting.download = null;
  $('export').hidden = true;
  $('export-download').hidden = true;
}

// downloadExport reads the file with the token and saves it. The Responses
// list shows the exchange, not the file.
async function downloadExport() {
  const path = exporting.download;
  if (!path || !state.token) return;
  const headers = { Accept: 'application/json', Authorization: `Bearer ${state.token}` };
  const x = exchange('GET', path, headers);
  let res;
  let blob = null;
  try {
    res = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    if (res.ok) blob = await res.blob();
    received(x, res, blob ? '' : await res.text());
  } catch (err) {
    x.error = String(err);
  }
  if (blob) {
    const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1] ?? 'export.json';
    x.stream = `a file of ${blob.size} bytes, saved as ${name}`;
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    $('export-download').dataset.saved = name;
  }
  showExchange(x);
}

// --- Logging in and out.

async function loadRoot() {
  if (state.root) return state.root;
  const x = await request('GET', apiRoot);
  if (x && x.ok && isObject(x.data)) state.root = x.data;
  return state.root;
}

function forgetToken() {
  stopLive();
  stopExport();
  state.token = null;
  state.tokensHref = null;
  $('session').hidden = true;
  $('login').hidden = false;
}

// offerReset links the login form to the root's password reset resource,
// whose forms ask for a reset mail and set a new password with its token.
function offerReset(root) {
  const reset = apiPath(linkHref(root, 'mb:password-reset'));
  $('forgot').hidden = !reset;
  if (reset) $('forgot').setAttribute('href', `#${reset}`);
}

async function showMe(root) {
  const user = $('session-user');
  user.textContent = $('login-username').value;
  user.removeAttribute('href');
  const me = apiPath(linkHref(root, 'mb:me'));
  const x = me && await request('GET', me);
  if (x && x.ok && isObject(x.data)) {
    if (typeof x.data.username === 'string') user.textContent = x.data.username;
    const self = apiPath(linkHref(x.data, 'self'));
    if (self) user.setAttribute('href', `#${self}`);
  }
}

async function logIn(e) {
  e.preventDefault();
  const root = await loadRoot();
  const tokens = apiPath(linkHref(root, 'mb:tokens'));
  if (!tokens) {
    say('The API root has no mb:tokens link: cannot log in.');
    return;
  }
  const credentials = `${$('login-username').value}:${$('login-password').value}`;
  const x = await request('POST', tokens, { authorization: `Basic ${base64(credentials)}` });
  if (!x || x.status !== 200 || typeof x.data?.token !== 'string') return;
  state.token = x.data.token;
  state.tokensHref = tokens;
  $('login-password').value = '';
  await showMe(root);
  $('login').hidden = true;
  $('session').hidden = false;
  $('session').title = typeof x.data.expires_at === 'string' ? `The token expires at ${x.data.expires_at}` : '';
  if (state.shown) navigate(state.shown); // what a resource shows depends on who asks
  startLive(root);
}

async function logOut() {
  stopLive(); // before the token it uses is revoked
  if (state.token && state.tokensHref) await request('DELETE', state.tokensHref);
  forgetToken();
  if (state.shown) navigate(state.shown);
}

// --- Start.

$('login').addEventListener('submit', logIn);
$('logout').addEventListener('click', logOut);
$('export-download').addEventListener('click', downloadExport);
$('home').addEventListener('click', () => go(apiRoot));
$('reload').addEventListener('click', () => state.shown && navigate(state.shown));
$('search').addEventListener('submit', search);
$('search-close').addEventListener('click', closeSearch);
$('sessions-revoke-others').addEventListener('click', (e) => {
  revokeSession(e.currentTarget.dataset.method, e.currentTarget.dataset.target, false);
});
for (const id of Object.keys(FOUND)) $(id).addEventListener('click', pageFound);
// A link to the resource on screen changes no fragment: reload it instead.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented) return;
  const a = e.target.closest('a[href^="#/"]');
  const path = a && apiPath(a.getAttribute('href').slice(1));
  if (path && path === hashPath()) {
    e.preventDefault();
    navigate(path);
  }
});
window.addEventListener('hashchange', onHashChange);
if (!location.hash) history.replaceState(null, '', `#${apiRoot}`);
onHashChange();
if (hashPath() !== apiRoot) loadRoot().then((root) => root && offerReset(root));
