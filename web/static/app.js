// Enhancements only: every page works without this file.
// A photo chosen (or taken by the camera) is previewed before the form is sent.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "file") return;
  const preview = document.getElementById(`${input.id}-preview`);
  if (!preview) return;
  preview.replaceChildren();
  for (const file of input.files) {
    if (!file.type.startsWith("image/")) continue;
    const image = document.createElement("img");
    image.alt = file.name;
    image.src = URL.createObjectURL(file);
    image.addEventListener("load", () => URL.revokeObjectURL(image.src));
    preview.append(image);
  }
});
// Buttons that ask first (ending an assignment, deactivating a user).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
