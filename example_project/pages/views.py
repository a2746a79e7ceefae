"""Static-looking pages: no database queries, only templates and {% static %}."""

from django.views.generic import TemplateView

GALLERY = (
    {
        "title": "Harbour at dawn",
        "image": "pages/img/gallery/2024/harbour.png",
        "thumb": "pages/img/gallery/2024/harbour.png",
    },
    {
        "title": "Lighthouse",
        "image": "pages/img/gallery/2024/lighthouse.png",
        "thumb": "pages/img/gallery/2024/lighthouse.png",
    },
    {
        "title": "Dunes",
        "image": "pages/img/gallery/2025/dunes.png",
        "thumb": "pages/img/gallery/2025/thumbs/dunes-thumb.png",
    },
    {
        "title": "Café sign",
        "image": "pages/img/café.svg",
        "thumb": "pages/img/café.svg",
    },
)


class HomeView(TemplateView):
    template_name = "pages/home.html"


class AboutView(TemplateView):
    template_name = "pages/about.html"


class GalleryView(TemplateView):
    template_name = "pages/gallery.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["photos"] = GALLERY
        return context
