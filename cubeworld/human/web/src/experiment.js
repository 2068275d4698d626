/* The Cubeworld human study, built with jsPsych 8.
 *
 * The server decides everything that matters (which images, in which order, what is
 * already answered); this page only shows it. Each answer is sent the moment it is given,
 * through a queue that retries until the server acknowledges it, so a network hiccup or a
 * server restart loses nothing, and a reload starts again at the first unanswered trial.
 */
(function () {
  "use strict";

  const params = new URLSearchParams(window.location.search);
  const PID = params.get("PROLIFIC_PID") || "";
  const STUDY_ID = params.get("STUDY_ID") || "";
  const SESSION_ID = params.get("SESSION_ID") || "";
  const TOKEN_KEY = "cubeworld-token:" + PID;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const NEXT_LABEL = "Next"; // jsPsych shows it as "Next >"

  // Every message (a refusal before the study starts, or an error that ends it) is shown
  // in the same text block as the instructions: same font, size and alignment.
  function messageHtml(html) {
    return "<div class='cw-text cw-message'>" + html + "</div>";
  }

  function showMessage(html) {
    const el = document.getElementById("cw-message");
    el.innerHTML = html;
    el.hidden = false;
    document.getElementById("jspsych-target").hidden = true;
  }

  function abortWith(jsPsych, html) {
    jsPsych.abortExperiment(messageHtml(html));
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  let token = null;

  async function api(path, body) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers["X-Participant-Token"] = token;
    const res = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}), cache: "no-store" });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      throw new ApiError(res.status, (data && data.code) || "http_" + res.status,
        (data && data.error) || "The server answered " + res.status + ".");
    }
    return data;
  }

  // Retry network failures and server errors; a 4xx is an answer and is thrown.
  async function apiRetry(path, body, attempts) {
    let delay = 300;
    for (let i = 0; ; i++) {
      try {
        return await api(path, body);
      } catch (e) {
        const retryable = !(e instanceof ApiError) || e.status >= 500 || e.status === 429;
        if (!retryable || i + 1 >= (attempts || Infinity)) throw e;
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  // ---- the answer queue ------------------------------------------------------------
  const queue = [];
  let pumping = false;
  let fatal = null;
  let onFatal = null;

  function requestId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  async function pump() {
    if (pumping) return;
    pumping = true;
    while (queue.length && !fatal) {
      try {
        await apiRetry("/api/responses", queue[0]);
        queue.shift();
      } catch (e) {
        if (e.code === "duplicate_request" || e.code === "already_answered") {
          queue.shift(); // the server has it already
        } else {
          fatal = e;
          if (onFatal) onFatal(e);
        }
      }
    }
    pumping = false;
  }

  function send(body) {
    queue.push(body);
    pump();
  }

  async function flushed() {
    while (queue.length || pumping) {
      if (fatal) throw fatal;
      await sleep(50);
    }
    if (fatal) throw fatal;
  }

  // For tests and for the curious: how many answers are not yet acknowledged.
  window.cubeworld = { pending: () => queue.length, failed: () => (fatal ? fatal.message : null) };

  // ---- the experiment ------------------------------------------------------------
  async function main() {
    if (!PID) {
      showMessage("<p>This study must be opened from its Prolific link " +
        "(the PROLIFIC_PID parameter is missing).</p>");
      return;
    }
    let session;
    try {
      session = await apiRetry("/api/session", {
        prolific_pid: PID, study_id: STUDY_ID, session_id: SESSION_ID,
        token: window.localStorage.getItem(TOKEN_KEY),
      }, 8);
    } catch (e) {
      showMessage("<p>" + escapeHtml(e.message) + "</p>");
      return;
    }
    token = session.token;
    window.localStorage.setItem(TOKEN_KEY, token);
    const study = session.study;
    document.title = "Study: " + study.question;

    const jsPsych = initJsPsych({ display_element: "jspsych-target" });
    onFatal = (e) => abortWith(jsPsych, "<p>" + escapeHtml(e.message) + "</p>");
    const timeline = [];
    let completion = session.completion_url
      ? { url: session.completion_url, code: session.completion_code } : null;

    if (!completion && !session.consented) {
      let agreed = false;
      timeline.push({
        type: jsPsychHtmlButtonResponse,
        stimulus: "<div class='cw-text cw-consent'>" + study.consent_html + "</div>",
        choices: ["I agree", "I do not agree"],
        data: { cw: "consent" },
        on_finish: (data) => { agreed = data.response === 0; },
      });
      timeline.push({
        type: jsPsychCallFunction,
        async: true,
        func: (done) => {
          // abortExperiment ends the current trial itself, so done() only on success.
          apiRetry("/api/consent", { agree: agreed }).then(() => {
            if (agreed) return done();
            abortWith(jsPsych, "<p>You did not agree to take part. Please close this " +
              "page and return the study on Prolific. Thank you!</p>");
          }, (e) => abortWith(jsPsych, "<p>" + escapeHtml(e.message) + "</p>"));
        },
      });
    }

    if (!completion && session.trials.length) {
      const first = session.trials[0].trial_index + 1;
      const pages = [];
      if (session.answered > 0) {
        pages.push("<div class='cw-text'><p>Welcome back! Your answers so far are saved. " +
          "You continue with trial " + first + " of " + session.total + ".</p></div>");
      }
      const nImages = session.trials.filter((t) => t.kind === "stimulus").length;
      pages.push("<div class='cw-text'><p>You will see " + nImages +
        (session.answered > 0 ? " more" : "") + " images, one at a time.</p>" +
        "<p>For every image, please answer this question:</p>" +
        "<blockquote class='cw-prompt' id='cw-prompt'>" + escapeHtml(study.prompt) + "</blockquote>" +
        "<p>Click " + session.choices.map((c) => "<b>" + escapeHtml(c.label) + "</b>").join(" or ") +
        " below the image. Please answer as accurately as you " +
        "can: you receive a bonus for every correct answer.</p></div>");
      const notes = [];
      if (study.attention_checks) {
        notes.push("<p>A few screens are attention checks: they ask you to click a particular " +
          "button. Please do as they say.</p>");
      }
      if (study.time_limit_minutes) {
        notes.push("<p>Please finish within " + study.time_limit_minutes + " minutes; after " +
          "that your remaining images are given to other participants.</p>");
      }
      // Name the button that is there: the last page's only way on is "Next >".
      notes.push("<p>Your answers are saved as you go. When you are ready, click <b>" +
        NEXT_LABEL + " &gt;</b> to see the first image.</p>");
      pages.push("<div class='cw-text'>" + notes.join("") + "</div>");
      timeline.push({
        type: jsPsychInstructions,
        pages: pages,
        show_clickable_nav: true,
        button_label_next: NEXT_LABEL,
        button_label_previous: "Back",
        data: { cw: "instructions" },
      });
      const images = session.trials.filter((t) => t.kind === "stimulus").map((t) => t.image);
      if (images.length) {
        timeline.push({ type: jsPsychPreload, images: images, show_progress_bar: true,
          message: "<p>Loading images...</p>", continue_after_error: true });
      }
      for (const trial of session.trials) {
        let shownAt = null;
        const progress = "<p class='cw-progress' id='cw-progress'>Trial " + (trial.trial_index + 1) +
          " of " + session.total + "</p>";
        const common = {
          choices: session.choices.map((c) => c.label),
          data: { cw: trial.kind, stimulus_id: trial.stimulus_id, trial_index_cw: trial.trial_index },
          on_load: () => { shownAt = Date.now(); },
          on_finish: (data) => {
            send({
              request_id: requestId(),
              stimulus_id: trial.stimulus_id,
              trial_index: trial.trial_index,
              // jsPsych's data.response is the index of the button clicked; the server
              // says which response code each button sends.
              response: session.choices[data.response].response,
              rt_ms: typeof data.rt === "number" ? data.rt : null,
              shown_at: shownAt,
            });
          },
        };
        if (trial.kind === "stimulus") {
          timeline.push(Object.assign({
            type: jsPsychImageButtonResponse,
            stimulus: trial.image,
            stimulus_height: study.image_height_px,
            maintain_aspect_ratio: true,
            render_on_canvas: false,
            prompt: "<div class='cw-trial-text'><p class='cw-question'>" +
              escapeHtml(study.question) + "</p>" + progress + "</div>",
          }, common));
        } else {
          timeline.push(Object.assign({
            type: jsPsychHtmlButtonResponse,
            stimulus: trial.html,
            prompt: progress,
          }, common));
        }
      }
    }

    if (!completion) {
      timeline.push({
        type: jsPsychCallFunction,
        async: true,
        func: (done) => {
          showSaving(true);
          flushed()
            .then(() => apiRetry("/api/complete", {}))
            .then((res) => { completion = { url: res.completion_url, code: res.completion_code }; })
            .then(() => { showSaving(false); done(); },
              (e) => { showSaving(false); abortWith(jsPsych, "<p>" + escapeHtml(e.message) + "</p>"); });
        },
      });
    }

    let redirectTimer = null;
    const redirect = () => {
      if (redirectTimer) clearTimeout(redirectTimer);
      window.location.href = completion.url;
    };
    timeline.push({
      type: jsPsychHtmlButtonResponse,
      stimulus: () => "<div class='cw-text' id='cw-end'><p>Thank you, you have finished the study!</p>" +
        "<p>Your completion code is <b id='cw-code'>" + escapeHtml(completion.code) + "</b>. " +
        "Click the button to return to Prolific" +
        (study.redirect_seconds > 0 ? " (this happens automatically in " + study.redirect_seconds +
          " seconds)" : "") + ".</p></div>",
      choices: ["Return to Prolific"],
      data: { cw: "end" },
      on_load: () => {
        if (study.redirect_seconds > 0) redirectTimer = setTimeout(redirect, study.redirect_seconds * 1000);
      },
      on_finish: redirect,
    });

    window.addEventListener("beforeunload", (ev) => {
      if (queue.length) { ev.preventDefault(); ev.returnValue = ""; }
    });
    jsPsych.run(timeline);
  }

  function showSaving(on) {
    let el = document.getElementById("cw-saving");
    if (!el) {
      el = document.createElement("p");
      el.id = "cw-saving";
      el.className = "cw-text";
      el.textContent = "Saving your answers...";
      document.getElementById("jspsych-target").appendChild(el);
    }
    el.hidden = !on;
  }

  main();
})();
