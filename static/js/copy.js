// "Copy" buttons: <button data-copy="input-id"> copies that read-only field's text.
// Without JavaScript (or clipboard access) the field stays there to select and copy.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const status = document.getElementById(button.dataset.copy + "-status");
  try {
    await navigator.clipboard.writeText(field.value);
    if (status) status.textContent = "Copied.";
  } catch (error) {
    field.focus();
    field.select();
    if (status) status.textContent = "Press Ctrl+C (⌘C on a Mac) to copy the selected link.";
  }
});

// The buttons start hidden: without this script they could not work.
for (const button of document.querySelectorAll("button[data-copy]")) button.hidden = false;
