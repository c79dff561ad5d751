// The trial loop of `reportgen collect`: fixation, stimulus, noise mask, answer buttons.
// The server decides which trial comes next and checks every answer; this page only shows
// them and times them. Phases change inside requestAnimationFrame callbacks, so each one lasts
// a whole number of frames: a change made there is painted in that frame.
"use strict";
(() => {
  const setup = JSON.parse(document.getElementById("setup").textContent);
  const t = setup.strings;
  const $ = (id) => document.getElementById(id);
  const fixation = $("fixation"), stimulus = $("stimulus"), mask = $("mask");
  const choices = $("choices"), message = $("message");
  // Half a 60 Hz frame: a phase ends in the first frame due at most this early, so a 200 ms
  // stimulus stays up for 12 frames rather than 13.
  const HALF_FRAME_MS = 8;

  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k]));
  const url = (path) =>
    path + (path.includes("?") ? "&" : "?") + "observer=" + encodeURIComponent(setup.observer);
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  async function until(time) {
    let now = await frame();
    while (now < time - HALF_FRAME_MS) now = await frame();
    return now;
  }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function progress(state) {
    $("progress").textContent = fill(t.progress, state);
    $("bar-fill").style.width = state.total ? `${(100 * state.done) / state.total}%` : "0";
  }

  // A text panel with one button (also Space or Enter); resolves when it is pressed.
  function panel(id, title, text, button) {
    message.replaceChildren();
    message.dataset.view = id;
    if (title) message.append(Object.assign(document.createElement("h2"), { textContent: title }));
    if (text) message.append(Object.assign(document.createElement("p"), { textContent: text }));
    message.hidden = false;
    if (!button) return new Promise(() => {});
    const b = Object.assign(document.createElement("button"), { textContent: button, id: "go" });
    message.append(b);
    b.focus();
    return new Promise((resolve) => {
      const done = () => {
        document.removeEventListener("keydown", onKey);
        message.hidden = true;
        resolve();
      };
      const onKey = (e) => {
        if (e.key === " " || e.key === "Enter") {
          e.preventDefault();
          done();
        }
      };
      b.addEventListener("click", done, { once: true });
      document.addEventListener("keydown", onKey);
    });
  }

  function drawMask() {
    // Fresh grey-level noise every trial, 32 x 32 blocks scaled up by CSS.
    mask.width = mask.height = 32;
    const ctx = mask.getContext("2d");
    const img = ctx.createImageData(32, 32);
    for (let i = 0; i < img.data.length; i += 4) {
      const v = Math.floor(Math.random() * 256);
      img.data[i] = img.data[i + 1] = img.data[i + 2] = v;
      img.data[i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  async function present() {
    // Each change is made in the frame callback, and is painted in that same frame.
    fixation.hidden = false;
    const fixOn = await frame();
    const stimOn = await until(fixOn + setup.fixation_ms);
    fixation.hidden = true;
    stimulus.hidden = false;
    const stimOff = await until(stimOn + setup.duration_ms);
    stimulus.hidden = true;
    drawMask();
    mask.hidden = false;
    const maskOff = await until(stimOff + setup.mask_ms);
    mask.hidden = true;
    choices.hidden = false;
    $("keys-hint").hidden = false;
    return maskOff; // the buttons' onset: response times count from here
  }

  // Resolves with the chosen class and the response time in ms (click or keys 1-9).
  function choose(onset) {
    return new Promise((resolve) => {
      const buttons = [...choices.querySelectorAll("button")];
      const pick = (i, time) => {
        document.removeEventListener("keydown", onKey);
        buttons.forEach((b) => (b.onclick = null));
        choices.hidden = true;
        $("keys-hint").hidden = true; // only the stimulus and the mask in between
        resolve({ response: setup.classes[i].id, rt_ms: Math.max(0, time - onset) });
      };
      const onKey = (e) => {
        const i = Number(e.key) - 1;
        if (Number.isInteger(i) && i >= 0 && i < Math.min(9, buttons.length)) {
          e.preventDefault();
          pick(i, e.timeStamp);
        }
      };
      buttons.forEach((b, i) => (b.onclick = (e) => pick(i, e.timeStamp)));
      document.addEventListener("keydown", onKey);
    });
  }

  async function request(path, body) {
    // Retries while the server cannot be reached (restarting, network), never on a refusal.
    for (let attempt = 0; ; attempt++) {
      let reply;
      try {
        reply = await fetch(url(path), body === undefined ? {} : {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
      } catch (err) {
        reply = null;
      }
      if (reply && reply.ok) {
        message.hidden = true;
        return reply.json();
      }
      if (reply && reply.status < 500) {
        console.error("refused:", reply.status, await reply.text());
        await panel("rejected", "", t.rejected, null);
      }
      if (attempt > 0) panel("lost", "", t.connection_lost, null);
      await sleep(1000);
    }
  }

  function buildChoices() {
    setup.classes.forEach((c, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.response = c.id;
      if (i < 9) b.append(Object.assign(document.createElement("span"), { className: "key", textContent: String(i + 1) }));
      b.append(document.createTextNode(c.name));
      choices.append(b);
    });
  }

  async function run() {
    buildChoices();
    let state = await request("/api/state");
    progress(state);
    if (!state.finished) await panel("intro", t.title, t.intro, t.begin);
    let practising = false;
    while (!state.finished) {
      const trial = state.next;
      if (practising && !trial.practice) await panel("practice-done", "", t.practice_done, t.continue);
      if (state.break_before) {
        await panel("break", t.break_title, fill(t.break_text, state), t.continue);
      }
      practising = trial.practice;
      $("practice-banner").hidden = !trial.practice;
      stimulus.src = "/image?id=" + encodeURIComponent(trial.stimulus);
      stimulus.dataset.stimulus = trial.stimulus;
      await stimulus.decode(); // decoded before the fixation starts: the 200 ms are all shown
      const onset = await present();
      const answer = await choose(onset);
      const body = { trial: trial.trial, stimulus: trial.stimulus, practice: trial.practice, ...answer };
      state = await request("/api/answer", body);
      progress(state);
    }
    $("practice-banner").hidden = true;
    await panel("end", t.end_title, fill(t.end_text, state), null);
  }

  run();
})();
