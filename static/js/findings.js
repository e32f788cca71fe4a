// The findings table: the selection for bulk actions and tidy URLs for the filter form.
// Loaded as a file (never inline) so a Content-Security-Policy without 'unsafe-inline' works, and
// written with event delegation because htmx replaces the table after every filter change.
"use strict";

(function () {
  const FILTER_FORM_ID = "finding-filters";
  const SELECTION_FORM_ID = "finding-selection";
  const SEARCH_INPUT_ID = "id_q";
  const CONFIRMATION_ID = "bulk-confirmation";

  function selectionParts(form) {
    return {
      rows: Array.from(form.querySelectorAll('input[name="finding"]')),
      page: form.querySelector("[data-select-page]"),
      all: form.querySelector('input[name="all_matching"]'),
      count: form.querySelector("[data-selection-count]"),
    };
  }

  function describeSelection(form, parts, checked) {
    if (parts.all && parts.all.checked) {
      const total = Number(form.dataset.matching).toLocaleString("en-US");
      if (form.dataset.matchingMore) {
        return `All matching findings selected (more than ${total})`;
      }
      return `All ${total} matching findings selected`;
    }
    if (checked === 0) {
      return "No finding selected";
    }
    return checked === 1 ? "1 finding selected" : `${checked} findings selected`;
  }

  function showSelection(form) {
    const parts = selectionParts(form);
    const checked = parts.rows.filter((box) => box.checked).length;
    if (parts.page) {
      parts.page.checked = checked > 0 && checked === parts.rows.length;
      parts.page.indeterminate = checked > 0 && checked < parts.rows.length;
    }
    if (parts.count) {
      parts.count.textContent = describeSelection(form, parts, checked);
    }
  }

  // A confirmation describes the selection and the panel as they were at the review. Any change
  // to them removes it, because its Confirm button would post the old values.
  function clearConfirmation() {
    const confirmation = document.getElementById(CONFIRMATION_ID);
    if (confirmation) {
      confirmation.replaceChildren();
    }
  }

  // Cancel leaves the page as it is, selection included. Without JavaScript the link reloads it.
  function onCancel(event) {
    const link = event.target.closest("[data-bulk-cancel]");
    if (!link || !link.closest(`#${CONFIRMATION_ID}`)) {
      return;
    }
    event.preventDefault();
    clearConfirmation();
  }

  function onSelectionChange(event) {
    const box = event.target;
    const form = box.form;
    if (!form || form.id !== SELECTION_FORM_ID) {
      return;
    }
    clearConfirmation();
    if (box.type !== "checkbox" || box.name === "unassign") {
      return;
    }
    const parts = selectionParts(form);
    if (box === parts.page) {
      parts.rows.forEach((row) => {
        row.checked = box.checked;
      });
      if (!box.checked && parts.all) {
        parts.all.checked = false;
      }
    } else if (box === parts.all) {
      parts.rows.forEach((row) => {
        row.checked = box.checked;
      });
    } else if (box.name === "finding" && !box.checked && parts.all) {
      // Leaving one row out means the selection is no longer every matching finding.
      parts.all.checked = false;
    }
    showSelection(form);
  }

  // Empty filters stay out of the URL that htmx requests and pushes, so a copied link contains only
  // the filters that were chosen.
  function dropEmptyFilters(event) {
    if (event.detail.elt.id !== FILTER_FORM_ID) {
      return;
    }
    const data = event.detail.formData;
    for (const name of new Set(data.keys())) {
      if (data.getAll(name).every((value) => value === "")) {
        data.delete(name);
      }
    }
  }

  function showCurrentSelection() {
    const form = document.getElementById(SELECTION_FORM_ID);
    if (form) {
      showSelection(form);
    }
  }

  // The confirmation arrives above the toolbar, which may be above the viewport after the user
  // scrolled down to tick rows. Focus moves to it, so keyboard and screen reader users are there too.
  function showConfirmation(event) {
    if (event.detail.target.id !== CONFIRMATION_ID) {
      return;
    }
    const card = event.detail.target.querySelector(".bulk-confirmation");
    if (card) {
      card.focus({ preventScroll: true });
      card.scrollIntoView({ block: "nearest" });
    }
  }

  // Filtering changes the URL without loading a page, so this moves the main navigation's highlight.
  // "My findings" is current while the URL has that link's filters, and "Findings" otherwise, which
  // is the rule that base.html applies when the server renders the page.
  function highlightNavigation() {
    const findings = document.querySelector('.nav [data-nav="findings"]');
    const mine = document.querySelector('.nav [data-nav="my-findings"]');
    if (!findings || !mine) {
      return;
    }
    const current = new URLSearchParams(window.location.search);
    const wanted = Array.from(new URL(mine.href).searchParams);
    const isMine = wanted.every(([name, value]) => current.get(name) === value);
    const active = isMine ? mine : findings;
    for (const link of [findings, mine]) {
      if (link === active) {
        link.setAttribute("aria-current", "page");
      } else {
        link.removeAttribute("aria-current");
      }
    }
  }

  // Typing in the search box already requests the table (its `input` trigger). The `change` event
  // that follows when the box loses focus would request it again and drop rows ticked meanwhile.
  // So that event is stopped here, in the capture phase, before it reaches the filter form.
  function ignoreSearchChange(event) {
    if (event.target.id === SEARCH_INPUT_ID) {
      event.stopPropagation();
    }
  }

  document.addEventListener("change", ignoreSearchChange, true);
  document.addEventListener("change", onSelectionChange);
  document.addEventListener("click", onCancel);
  document.addEventListener("htmx:configRequest", dropEmptyFilters);
  document.addEventListener("htmx:afterSwap", showCurrentSelection);
  document.addEventListener("htmx:afterSettle", showConfirmation);
  document.addEventListener("htmx:pushedIntoHistory", highlightNavigation);
  document.addEventListener("htmx:replacedInHistory", highlightNavigation);
  document.addEventListener("DOMContentLoaded", showCurrentSelection);
})();
