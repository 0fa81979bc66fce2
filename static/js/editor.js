// The post and comment editor: preview without leaving the page, and files attached by
// dropping, pasting or choosing them. Without this script the form still works: its
// Preview button and file field go through the server.
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function insertAtCursor(textarea, text) {
    var start = textarea.selectionStart, end = textarea.selectionEnd;
    var before = textarea.value.slice(0, start), after = textarea.value.slice(end);
    // A blank line before: an image or link of its own is a paragraph of its own.
    var gap = !before || before.endsWith("\n\n") ? "" : before.endsWith("\n") ? "\n" : "\n\n";
    var insert = gap + text + "\n";
    textarea.value = before + insert + after;
    textarea.selectionStart = textarea.selectionEnd = start + insert.length;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function hasFiles(event) {
    var types = event.dataTransfer ? event.dataTransfer.types : [];
    return Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  function setUp(form) {
    var textarea = form.querySelector("textarea[data-editor-body]");
    var status = form.querySelector("[data-editor-status]");
    var preview = form.querySelector("[data-editor-preview]");
    var previewBody = form.querySelector("[data-editor-preview-body]");
    var previewButton = form.querySelector("[data-editor-preview-button]");
    var fileInput = form.querySelector("input[type=file]");
    if (!textarea) return;

    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle("error", Boolean(isError));
    }

    function post(url, data) {
      return fetch(url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(form) },
      });
    }

    function upload(file) {
      say("Uploading “" + file.name + "”…");
      var data = new FormData();
      data.append("file", file);
      return post(form.dataset.uploadUrl, data).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (payload) {
          if (!response.ok) {
            var reason = payload.error ||
              (response.status === 413 ? "“" + file.name + "” is too large to attach."
                                       : "“" + file.name + "” could not be attached.");
            say(reason, true);
            return false;
          }
          insertAtCursor(textarea, payload.markdown);
          say("Attached “" + payload.name + "”.");
          return true;
        });
      }).catch(function () {
        say("“" + file.name + "” could not be sent: check your connection and try again.", true);
        return false;
      });
    }

    function uploadAll(files) {
      var queue = Array.prototype.slice.call(files);
      var next = function () {
        if (!queue.length) return Promise.resolve();
        return upload(queue.shift()).then(function (ok) { return ok ? next() : undefined; });
      };
      return next();
    }

    textarea.addEventListener("dragover", function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      textarea.classList.add("dropping");
    });
    textarea.addEventListener("dragleave", function () { textarea.classList.remove("dropping"); });
    textarea.addEventListener("drop", function (event) {
      textarea.classList.remove("dropping");
      if (!hasFiles(event)) return;
      event.preventDefault();
      textarea.focus();
      uploadAll(event.dataTransfer.files);
    });
    textarea.addEventListener("paste", function (event) {
      var files = event.clipboardData ? event.clipboardData.files : [];
      if (!files.length) return;
      event.preventDefault();
      uploadAll(files);
    });
    if (fileInput) {
      fileInput.addEventListener("change", function () {
        uploadAll(fileInput.files).then(function () { fileInput.value = ""; });
      });
    }
    if (previewButton) {
      previewButton.addEventListener("click", function (event) {
        event.preventDefault();
        var data = new FormData();
        data.append("body", textarea.value);
        say("Rendering the preview…");
        post(form.dataset.previewUrl, data).then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        }).then(function (html) {
          previewBody.innerHTML = html;  // rendered and sanitised by the server
          preview.hidden = false;
          say("");
        }).catch(function () {
          say("The preview could not be shown: check your connection and try again.", true);
        });
      });
    }
  }

  document.querySelectorAll("form[data-editor]").forEach(setUp);
})();
